import { render } from 'preact';

function App() {
  return <main>Llama Chat</main>;
}

const root = document.getElementById('root');
if (root) render(<App />, root);
