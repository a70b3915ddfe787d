import * as assert from 'node:assert/strict';
import { normalizeBaseUrl } from '../../src/core/server/llamaClient';
import { LOCAL_SERVER_NAME, pickActive, serverList } from '../../src/core/server/servers';

describe('servers', () => {
  it('lists the setting (bad entries skipped, one per URL), else the one serverUrl; a local server joins', () => {
    const list = serverList(
      [
        { name: 'Laptop', url: 'http://127.0.0.1:8080/' },
        { name: 'GPU box', url: 'http://10.0.0.5:8080/v1', contextSize: 32768 },
        { name: 'Again', url: 'http://127.0.0.1:8080' },
        { name: 'Broken', url: 'ftp://x' },
        'nonsense',
        { url: 'http://gateway.local:4000' },
      ],
      'http://127.0.0.1:9999',
      normalizeBaseUrl,
      'http://127.0.0.1:41234',
    );
    assert.deepEqual(
      list.map((e) => [e.name, e.url, e.contextSize, e.local]),
      [
        ['Laptop', 'http://127.0.0.1:8080', undefined, undefined],
        ['GPU box', 'http://10.0.0.5:8080', 32768, undefined],
        ['http://gateway.local:4000', 'http://gateway.local:4000', undefined, undefined],
        [LOCAL_SERVER_NAME, 'http://127.0.0.1:41234', undefined, true],
      ],
    );
    const fallback = serverList([], 'http://127.0.0.1:8080', normalizeBaseUrl);
    assert.deepEqual(fallback.map((e) => [e.name, e.url]), [['127.0.0.1:8080', 'http://127.0.0.1:8080']]);
  });

  it('the remembered server stays active while it is listed, else the first', () => {
    const list = serverList([{ name: 'A', url: 'http://a:1' }, { name: 'B', url: 'http://b:2' }], 'http://x', normalizeBaseUrl);
    assert.equal(pickActive(list, 'http://b:2').name, 'B');
    assert.equal(pickActive(list, 'http://gone:3').name, 'A');
    assert.equal(pickActive(list, undefined).name, 'A');
  });
});
