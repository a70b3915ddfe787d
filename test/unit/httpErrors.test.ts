import * as assert from 'node:assert/strict';
import { displayUrl, excerpt, httpStatusError, networkError, notSseError, parseServerErrorBody, streamErrorInfo } from '../../src/core/server/httpErrors';
import { LlamaError } from '../../src/core/base/errors';
import { findFrame, parseFrames } from '../support/frames';

const frames = parseFrames();
const SERVER = 'http://127.0.0.1:8080';
const ctx = { serverUrl: SERVER, url: `${SERVER}/v1/chat/completions` };

function codeError(code: string, message = code, name = 'Error'): Error {
  const err = new Error(message) as Error & { code: string };
  err.code = code;
  err.name = name;
  return err;
}

describe('httpErrors', () => {
  describe('networkError', () => {
    it('maps connection refused to unreachable with the start-or-check hint', () => {
      const e = networkError(codeError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:8080'), ctx);
      assert.equal(e.kind, 'unreachable');
      assert.match(e.message, /connection refused/);
      assert.equal(e.hint, "Start llama-server or check the llamaChat.serverUrl setting (http://127.0.0.1:8080)");
    });

    it('looks inside AggregateError (happy eyeballs) and error causes', () => {
      const aggregate = new AggregateError([codeError('ECONNREFUSED'), codeError('ECONNREFUSED')], 'connect failed');
      assert.equal(networkError(aggregate, ctx).kind, 'unreachable');
      const wrapped = new TypeError('fetch failed', { cause: codeError('ENOTFOUND', 'getaddrinfo ENOTFOUND llama.invalid') });
      assert.equal(networkError(wrapped, ctx).kind, 'dns');
    });

    it('maps DNS failures to dns, naming the host', () => {
      for (const code of ['ENOTFOUND', 'EAI_AGAIN']) {
        const e = networkError(codeError(code), { serverUrl: 'http://gpu-box.lan:8080' });
        assert.equal(e.kind, 'dns', code);
        assert.match(e.message, /"gpu-box\.lan"/);
      }
    });

    it('maps undici connect and headers timeouts to timeout', () => {
      assert.equal(networkError(codeError('UND_ERR_CONNECT_TIMEOUT', 'Connect Timeout Error', 'ConnectTimeoutError'), ctx).kind, 'timeout');
      const headers = networkError(codeError('UND_ERR_HEADERS_TIMEOUT', 'Headers Timeout Error', 'HeadersTimeoutError'), ctx);
      assert.equal(headers.kind, 'timeout');
      assert.match(headers.message, /did not answer in time/);
    });

    it('maps TLS failures to tls, suggesting http:// for an https URL', () => {
      const https = { serverUrl: 'https://127.0.0.1:8080' };
      for (const err of [
        codeError('ERR_SSL_WRONG_VERSION_NUMBER', 'C0:...:SSL routines:ssl3_get_record:wrong version number'),
        codeError('EPROTO', 'write EPROTO'),
        new Error('140:error:1408F10B:SSL routines:ssl3_get_record:wrong version number'),
      ]) {
        const e = networkError(err, https);
        assert.equal(e.kind, 'tls', err.message);
        assert.match(e.hint ?? '', /http:\/\//);
      }
      const cert = networkError(codeError('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'), https);
      assert.equal(cert.kind, 'tls');
      assert.match(cert.message, /certificate/);
    });

    it('maps aborts to aborted, whatever undici reports, when our signal fired', () => {
      assert.equal(networkError(new DOMException('This operation was aborted', 'AbortError'), ctx).kind, 'aborted');
      assert.equal(networkError(codeError('UND_ERR_ABORTED', 'Request aborted', 'AbortError'), ctx).kind, 'aborted');
      assert.equal(networkError(codeError('ECONNRESET'), { ...ctx, aborted: true }).kind, 'aborted');
    });

    it('a dropped connection is unreachable before the response and truncated mid-stream', () => {
      assert.equal(networkError(codeError('ECONNRESET', 'read ECONNRESET'), ctx).kind, 'unreachable');
      assert.equal(networkError(codeError('UND_ERR_SOCKET', 'other side closed', 'SocketError'), { ...ctx, midStream: true }).kind, 'truncated');
      assert.equal(networkError(new Error('weird'), { ...ctx, midStream: true }).kind, 'truncated');
    });

    it('falls back to unknown and passes LlamaErrors through', () => {
      assert.equal(networkError(new Error('something odd'), ctx).kind, 'unknown');
      assert.equal(networkError('a string', ctx).kind, 'unknown');
      const own = new LlamaError({ kind: 'storage', message: 'x' });
      assert.equal(networkError(own, ctx), own);
    });

    it('never shows credentials from the URL', () => {
      const e = networkError(codeError('ECONNREFUSED'), { serverUrl: 'http://user:hunter2@10.0.0.5:8080' });
      assert.ok(!`${e.message} ${e.hint}`.includes('hunter2'));
      assert.match(e.hint ?? '', /http:\/\/10\.0\.0\.5:8080/);
    });
  });

  describe('httpStatusError', () => {
    function fromFrame(title: string) {
      const f = findFrame(frames, title);
      return httpStatusError(f.status!, f.body.toString('utf8'), { ...ctx, contentType: f.headers['content-type'] });
    }

    it('maps the captured exceed_context_size_error to context_exceeded', () => {
      const e = fromFrame('ERROR streaming: prompt longer than context');
      assert.equal(e.kind, 'context_exceeded');
      assert.equal(e.status, 400);
      assert.equal(e.nPromptTokens, 3010);
      assert.equal(e.nCtx, 2048);
      assert.equal(e.hint, 'The prompt has 3010 tokens but the context is 2048: start a new chat, shorten the message, or restart llama-server with a larger -c');
      assert.match(e.serverMessage ?? '', /exceeds the available context size/);
    });

    it('reads token counts from the message when the fields are missing', () => {
      const body = JSON.stringify({ error: { code: 400, message: 'request (5000 tokens) exceeds the available context size (4096 tokens), try increasing it' } });
      const e = httpStatusError(400, body, ctx);
      assert.equal(e.kind, 'context_exceeded');
      assert.equal(e.nPromptTokens, 5000);
      assert.equal(e.nCtx, 4096);
    });

    it('maps other captured 4xx/5xx errors with the server message', () => {
      const missing = fromFrame('ERROR: missing messages');
      assert.equal(missing.kind, 'bad_request');
      assert.equal(missing.serverMessage, "'messages' is required");
      assert.equal(missing.serverType, 'invalid_request_error');
      const grammar = fromFrame('STREAM: invalid param');
      assert.match(grammar.message, /failed to parse grammar/);
      const server = fromFrame('ERROR: invalid JSON body');
      assert.equal(server.kind, 'server_error');
      assert.equal(server.status, 500);
      const metrics = fromFrame('GET /metrics');
      assert.equal(metrics.kind, 'bad_request');
      assert.equal(metrics.status, 501);
    });

    it('401 hints at the Set API Key command, differently when a key was sent', () => {
      const body = '{"error":{"code":401,"message":"Invalid API Key","type":"authentication_error"}}';
      const none = httpStatusError(401, body, ctx);
      assert.equal(none.kind, 'unauthorized');
      assert.match(none.hint ?? '', /'Llama Chat: Set API Key'/);
      const wrong = httpStatusError(401, body, { ...ctx, sentApiKey: true });
      assert.match(wrong.hint ?? '', /not accepted/);
      assert.notEqual(none.hint, wrong.hint);
    });

    it('maps 403, 404, 503 loading and 502 proxy errors', () => {
      assert.equal(httpStatusError(403, '', ctx).kind, 'forbidden');
      const notFound = httpStatusError(404, '{"error":{"code":404,"message":"File Not Found","type":"not_found_error"}}', ctx);
      assert.equal(notFound.kind, 'bad_request');
      assert.match(notFound.hint ?? '', /without a path such as \/v1/);
      const loading = httpStatusError(503, '{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}', ctx);
      assert.equal(loading.kind, 'server_error');
      assert.match(loading.hint ?? '', /loading the model/);
      const proxy = httpStatusError(502, '<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>', ctx);
      assert.equal(proxy.kind, 'server_error');
      assert.equal(proxy.serverMessage, '502 Bad Gateway');
      assert.match(proxy.hint ?? '', /proxy/);
    });

    it('quotes plain-text bodies, trimmed to one line', () => {
      const e = httpStatusError(500, 'boom\n  at line 2\n' + 'z'.repeat(1000), ctx);
      assert.match(e.message, /boom at line 2 z+…/);
      assert.ok(e.message.length < 400);
    });
  });

  describe('helpers', () => {
    it('notSseError recognises HTML and quotes JSON', () => {
      const html = notSseError('text/html; charset=utf-8', '<!doctype html><html><title>Login</title></html>', ctx);
      assert.equal(html.kind, 'not_sse');
      assert.match(html.message, /HTML page \("Login"\)/);
      const jsonBody = notSseError('application/json', '{"choices":[]}', ctx);
      assert.match(jsonBody.message, /"\{"choices":\[\]\}"/);
      assert.match(notSseError(undefined, '', ctx).message, /empty body.*content-type missing/);
    });

    it('streamErrorInfo reads object and string errors', () => {
      const info = streamErrorInfo({ code: 500, message: 'out of memory', type: 'server_error' });
      assert.deepEqual(
        { kind: info.kind, serverMessage: info.serverMessage, serverType: info.serverType, status: info.status },
        { kind: 'stream_error', serverMessage: 'out of memory', serverType: 'server_error', status: 500 },
      );
      assert.equal(streamErrorInfo('plain words').serverMessage, 'plain words');
      assert.equal(streamErrorInfo(42).kind, 'stream_error');
    });

    it('parseServerErrorBody handles llama-server, OpenAI-style and junk bodies', () => {
      assert.deepEqual(parseServerErrorBody('{"error":{"code":400,"message":"m","type":"t","n_prompt_tokens":1,"n_ctx":2}}'), {
        code: 400,
        message: 'm',
        type: 't',
        nPromptTokens: 1,
        nCtx: 2,
      });
      assert.deepEqual(parseServerErrorBody('{"error":"just text"}'), { message: 'just text' });
      assert.deepEqual(parseServerErrorBody('{"message":"top level"}'), { message: 'top level' });
      assert.equal(parseServerErrorBody('<html>'), undefined);
      assert.equal(parseServerErrorBody('{broken'), undefined);
    });

    it('displayUrl drops credentials, query and a bare trailing slash', () => {
      assert.equal(displayUrl('http://a:b@host:1/?key=x'), 'http://host:1');
      assert.equal(displayUrl('https://host/llama/'), 'https://host/llama/');
      assert.equal(displayUrl('not a url user:pw@host'), 'host');
    });

    it('excerpt collapses whitespace and control characters and cuts long text', () => {
      assert.equal(excerpt('a\n\tb\u0000c'), '"a b c"');
      assert.equal(excerpt('x'.repeat(100), 10), `"${'x'.repeat(10)}…"`);
    });
  });
});
