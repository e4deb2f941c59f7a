'use strict';
// What the replaybook kernel adds to tslab's ZeroMQ server (tslab/dist/jupyter's ZmqServer):
// - comms: comm_open, comm_msg and comm_close from the front end go to replaybook's comm registry
//   (dist/widgets), which sends its own on iopub with binary buffers as extra frames;
//   comm_info_request is answered with the open comms (tslab answers with none, under the
//   wrong reply type);
// - execution counts: an execute_input carrying the count is published when a cell starts, so
//   front ends and saved notebooks show In [n] (tslab sends it only in execute_reply).
// Messages are parsed and signed here by the Jupyter wire protocol (HMAC-SHA256 over header,
// parent header, metadata and content; buffers follow unsigned).
const { createHmac, randomBytes, timingSafeEqual } = require('node:crypto');

const DELIM = Buffer.from('<IDS|MSG>');
const COMM_TYPES = new Set(['comm_open', 'comm_msg', 'comm_close', 'comm_info_request']);

function parse(key, frames) {
  const at = frames.findIndex((f) => f.equals(DELIM));
  if (at < 0) throw new Error('message missing delimiter');
  const parts = frames.slice(at + 2);
  const hmac = frames[at + 1].toString();
  if (key) {
    const h = createHmac('sha256', key);
    for (const p of parts.slice(0, 4)) h.update(p);
    const want = Buffer.from(h.digest('hex'));
    const got = Buffer.from(hmac);
    if (want.length !== got.length || !timingSafeEqual(want, got)) throw new Error('invalid message signature');
  }
  return {
    identity: frames.slice(0, at),
    header: JSON.parse(parts[0].toString()),
    parent: JSON.parse(parts[1].toString()),
    metadata: JSON.parse(parts[2].toString()),
    content: JSON.parse(parts[3].toString()),
    buffers: parts.slice(4),
  };
}

function makeServer(ZmqServer) {
  return class ReplaybookServer extends ZmqServer {
    constructor(Base, handler, configPath, widgets) {
      super(handler, configPath);
      this.widgets = widgets;
      /** The request whose handling is under way: iopub messages name it as their parent. */
      this.parentHeader = {};
      this.session = randomBytes(16).toString('hex');
      this.counts = new WeakMap();
      widgets.setCommTransport({
        send: (msgType, content, buffers = [], metadata = {}) => this.publish(msgType, content, this.parentHeader, buffers, metadata),
      });
      this.wrapExecuteCounts(handler);
    }

    /** Sends one message: on iopub, or (with identity) as a reply on a router socket. */
    publish(msgType, content, parent, buffers = [], metadata = {}, sock = this.iopub, identity = []) {
      if (!sock) return;
      const header = {
        msg_id: randomBytes(16).toString('hex'),
        username: parent.username ?? 'kernel',
        session: parent.session ?? this.session,
        date: new Date().toISOString(),
        msg_type: msgType,
        version: '5.3',
      };
      const bodies = [header, parent, metadata, content].map((x) => Buffer.from(JSON.stringify(x)));
      const h = createHmac('sha256', this.connInfo.key);
      for (const b of bodies) h.update(b);
      sock.send([...identity, DELIM, Buffer.from(h.digest('hex')), ...bodies, ...buffers.map((b) => Buffer.from(b))]);
    }

    /**
     * tslab counts a cell when it starts it (handleExecuteImpl, in queue order): the count is
     * published there as execute_input, with the request as parent.
     */
    wrapExecuteCounts(handler) {
      const server = this;
      const impl = handler.handleExecuteImpl.bind(handler);
      handler.handleExecuteImpl = function (req, writeStream, writeDisplayData) {
        const msg = server.counts.get(req);
        if (msg) {
          server.parentHeader = msg.header;
          server.publish('execute_input', { code: req.code, execution_count: handler.execCount + 1 }, msg.header);
          server.widgets.setCurrentCell(handler.execCount + 1);
        }
        return impl(req, writeStream, writeDisplayData);
      };
    }

    async handleExecute(sock, msg) {
      this.counts.set(msg.content, msg);
      return super.handleExecute(sock, msg);
    }

    async handleShellMessage(sock, ...frames) {
      let type = null;
      try {
        const at = frames.findIndex((f) => f.equals(DELIM));
        type = at >= 0 && frames[at + 2] ? JSON.parse(frames[at + 2].toString()).msg_type : null;
      } catch {
        type = null;
      }
      if (!COMM_TYPES.has(type)) return super.handleShellMessage(sock, ...frames);
      let msg;
      try {
        msg = parse(this.connInfo.key, frames);
      } catch (e) {
        console.error(`replaybook kernel: dropped a ${type} message: ${e.message}`);
        return;
      }
      const previous = this.parentHeader;
      this.parentHeader = msg.header;
      this.publish('status', { execution_state: 'busy' }, msg.header);
      try {
        if (type === 'comm_info_request') {
          const comms = this.widgets.commInfo(msg.content.target_name || undefined);
          this.publish('comm_info_reply', { status: 'ok', comms }, msg.header, [], {}, sock, msg.identity);
        } else {
          this.widgets.handleCommMessage(type, msg.content, msg.buffers);
        }
      } catch (e) {
        console.error(`replaybook kernel: ${type} failed: ${e && e.stack ? e.stack : e}`);
      } finally {
        this.publish('status', { execution_state: 'idle' }, msg.header);
        this.parentHeader = previous;
      }
    }
  };
}

/** ReplaybookServer(ZmqServer, handler, connectionFile, widgets): tslab's server class is passed in. */
function ReplaybookServer(ZmqServer, handler, configPath, widgets) {
  const Cls = makeServer(ZmqServer);
  return new Cls(ZmqServer, handler, configPath, widgets);
}

module.exports = { ReplaybookServer, parse };
