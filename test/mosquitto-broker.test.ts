/**
 * The Mosquitto test broker (test/support/mosquitto.ts) really speaks MQTT
 * the way carwatch's ingest will need it: a password login, QoS 1 delivery,
 * and a persistent session (clean session false, fixed client id) whose QoS 1
 * messages queue while the client is away, also across a broker restart.
 *
 * The client is a minimal MQTT 3.1.1 implementation over node:net below (the
 * `mqtt` package is not a dependency yet): CONNECT/CONNACK, SUBSCRIBE/SUBACK,
 * PUBLISH/PUBACK at QoS 0 and 1, DISCONNECT. Every wait is on a packet.
 */
import { randomBytes } from "node:crypto";
import { type Socket, connect as tcpConnect } from "node:net";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { describeMosquitto, type Mosquitto, startMosquitto } from "./support/mosquitto.js";

// ---------------------------------------------------------------- MQTT 3.1.1

const CONNECT = 1,
  CONNACK = 2,
  PUBLISH = 3,
  PUBACK = 4,
  SUBSCRIBE = 8,
  SUBACK = 9,
  DISCONNECT = 14;
const PACKET_TIMEOUT_MS = 10_000;

interface Packet {
  type: number;
  flags: number;
  body: Buffer;
}

interface Message {
  topic: string;
  payload: string;
  qos: number;
  dup: boolean;
}

function str(s: string): Buffer {
  const b = Buffer.from(s, "utf8");
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function packet(type: number, flags: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const len: number[] = [];
  let n = body.length;
  do {
    let digit = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) digit |= 0x80;
    len.push(digit);
  } while (n > 0);
  return Buffer.concat([Buffer.from([(type << 4) | flags, ...len]), body]);
}

/** Items handed to whoever awaits them, in order; a wait fails on timeout or when the connection closes. */
class Inbox<T> {
  private items: T[] = [];
  private waiters: { resolve: (v: T) => void; reject: (e: Error) => void }[] = [];
  private closed: Error | null = null;

  push(item: T): void {
    const w = this.waiters.shift();
    if (w) w.resolve(item);
    else this.items.push(item);
  }

  close(err: Error): void {
    this.closed = err;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  next(what: string): Promise<T> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    if (this.closed) return Promise.reject(new Error(`${what}: ${this.closed.message}`));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`${what}: nothing after ${PACKET_TIMEOUT_MS} ms`));
      }, PACKET_TIMEOUT_MS);
      const waiter = {
        resolve: (v: T) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(new Error(`${what}: ${e.message}`));
        },
      };
      this.waiters.push(waiter);
    });
  }
}

interface ConnectOptions {
  clientId: string;
  username?: string;
  password?: string;
  /** Clean session (default true); false keeps the session and its queue on the broker. */
  clean?: boolean;
}

class MqttClient {
  /** Incoming PUBLISH packets (QoS 1 ones are PUBACKed on arrival). */
  readonly messages = new Inbox<Message>();
  /** Every other incoming packet, in order. */
  private readonly control = new Inbox<Packet>();
  private buf = Buffer.alloc(0);
  private nextId = 1;
  readonly closed: Promise<void>;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    this.closed = new Promise((resolve) =>
      socket.on("close", () => {
        const err = new Error("connection closed");
        this.messages.close(err);
        this.control.close(err);
        resolve();
      }),
    );
    socket.on("error", () => undefined); // "close" follows and fails the waits
  }

  /** Opens a TCP connection, sends CONNECT and returns the CONNACK (the broker closes the socket when refused). */
  static async connect(url: string, o: ConnectOptions): Promise<{ client: MqttClient; returnCode: number; sessionPresent: boolean }> {
    const { hostname, port } = new URL(url);
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = tcpConnect({ host: hostname, port: Number(port) }, () => {
        s.off("error", reject);
        resolve(s);
      });
      s.once("error", reject);
    });
    const client = new MqttClient(socket);
    let flags = o.clean === false ? 0 : 0x02;
    if (o.username !== undefined) flags |= 0x80;
    if (o.password !== undefined) flags |= 0x40;
    const payload = [str(o.clientId)];
    if (o.username !== undefined) payload.push(str(o.username));
    if (o.password !== undefined) payload.push(str(o.password));
    client.send(packet(CONNECT, 0, str("MQTT"), Buffer.from([4, flags]), u16(60), ...payload));
    const ack = await client.expect(CONNACK, "CONNACK");
    return { client, sessionPresent: (ack.body[0]! & 1) === 1, returnCode: ack.body[1]! };
  }

  /** SUBSCRIBE to one filter; resolves with the granted QoS from the SUBACK (0x80 = refused). */
  async subscribe(filter: string, qos: 0 | 1): Promise<number> {
    const id = this.id();
    this.send(packet(SUBSCRIBE, 0x02, u16(id), str(filter), Buffer.from([qos])));
    const ack = await this.expect(SUBACK, `SUBACK of ${filter}`);
    expect(ack.body.readUInt16BE(0)).toBe(id);
    return ack.body[2]!;
  }

  /** PUBLISH at QoS 1; resolves once the broker's PUBACK for it arrives (it then owns the message). */
  async publish(topic: string, payload: string): Promise<void> {
    const id = this.id();
    this.send(packet(PUBLISH, 0x02, str(topic), u16(id), Buffer.from(payload, "utf8")));
    const ack = await this.expect(PUBACK, `PUBACK of ${payload}`);
    expect(ack.body.readUInt16BE(0)).toBe(id);
  }

  nextMessage(what = "message"): Promise<Message> {
    return this.messages.next(what);
  }

  /** DISCONNECT and wait for the broker to close the connection. */
  async disconnect(): Promise<void> {
    if (!this.socket.destroyed) this.send(packet(DISCONNECT, 0));
    this.socket.end();
    await this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private id(): number {
    const id = this.nextId;
    this.nextId = (this.nextId % 0xffff) + 1;
    return id;
  }

  private send(b: Buffer): void {
    this.socket.write(b);
  }

  private async expect(type: number, what: string): Promise<Packet> {
    const p = await this.control.next(what);
    if (p.type !== type) throw new Error(`${what}: got packet type ${p.type}`);
    return p;
  }

  private onData(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.buf.length < 2) return;
      let len = 0,
        mult = 1,
        i = 1;
      for (;;) {
        if (i >= this.buf.length) return; // length bytes not all here yet
        const digit = this.buf[i++]!;
        len += (digit & 0x7f) * mult;
        mult *= 128;
        if ((digit & 0x80) === 0) break;
        if (i > 4) return void this.socket.destroy(new Error("malformed remaining length"));
      }
      if (this.buf.length < i + len) return;
      const header = this.buf[0]!;
      const p: Packet = { type: header >> 4, flags: header & 0x0f, body: this.buf.subarray(i, i + len) };
      this.buf = this.buf.subarray(i + len);
      if (p.type === PUBLISH) this.onPublish(p);
      else this.control.push(p);
    }
  }

  private onPublish(p: Packet): void {
    const qos = (p.flags >> 1) & 3;
    const topicLen = p.body.readUInt16BE(0);
    const topic = p.body.subarray(2, 2 + topicLen).toString("utf8");
    let at = 2 + topicLen;
    if (qos > 0) {
      const id = p.body.readUInt16BE(at);
      at += 2;
      this.send(packet(PUBACK, 0, u16(id)));
    }
    this.messages.push({ topic, payload: p.body.subarray(at).toString("utf8"), qos, dup: (p.flags & 0x08) !== 0 });
  }
}

// ---------------------------------------------------------------- the suite

const CONNACK_NOT_AUTHORIZED = 5;

describeMosquitto("the Mosquitto test broker (MQTT 3.1.1)", () => {
  let broker: Mosquitto;
  const open: MqttClient[] = [];

  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterEach(() => {
    for (const c of open.splice(0)) c.destroy();
  });
  afterAll(async () => broker?.stop());

  const topic = () => `carwatch/test/${randomBytes(4).toString("hex")}/readings`;

  async function login(o: Omit<ConnectOptions, "username" | "password">) {
    const r = await MqttClient.connect(broker.url, { username: broker.username, password: broker.password, ...o });
    open.push(r.client);
    expect(r.returnCode).toBe(0);
    return r;
  }

  /**
   * Exactly the messages in `want` arrive (in order) and nothing else: a marker published after them
   * on the same topic must be the very next message (the broker keeps per-topic order at one QoS).
   */
  async function expectExactly(sub: MqttClient, pub: MqttClient, t: string, want: string[]): Promise<void> {
    const got: Message[] = [];
    for (const w of want) got.push(await sub.nextMessage(`message "${w}"`));
    expect(got.map((m) => m.payload)).toEqual(want);
    expect(got.every((m) => m.topic === t && m.qos === 1)).toBe(true);
    const marker = `marker-${randomBytes(4).toString("hex")}`;
    await pub.publish(t, marker);
    expect((await sub.nextMessage("marker")).payload).toBe(marker);
  }

  it("refuses a wrong password and an anonymous client (CONNACK 5, not authorized)", async () => {
    expect(broker.url).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
    const wrong = await MqttClient.connect(broker.url, { clientId: "intruder", username: broker.username, password: "not-the-password" });
    expect(wrong.returnCode).toBe(CONNACK_NOT_AUTHORIZED);
    await wrong.client.closed; // the broker hangs up after refusing
    const anonymous = await MqttClient.connect(broker.url, { clientId: "anonymous" });
    expect(anonymous.returnCode).toBe(CONNACK_NOT_AUTHORIZED);
    await anonymous.client.closed;
  });

  it("delivers a QoS 1 publish to a subscriber", async () => {
    const t = topic();
    const { client: sub } = await login({ clientId: "sub-qos1" });
    expect(await sub.subscribe(t, 1)).toBe(1);
    const { client: pub } = await login({ clientId: "pub-qos1" });
    await pub.publish(t, JSON.stringify({ vehicle: "v1", speed: 88 }));
    await expectExactly(sub, pub, t, [JSON.stringify({ vehicle: "v1", speed: 88 })]);
    await sub.disconnect();
    await pub.disconnect();
  });

  it("queues QoS 1 messages for a persistent session while it is away, also across a broker restart", async () => {
    const t = topic();
    const clientId = "carwatch-ingest-test";
    // First connection: a new session, subscribed at QoS 1, then a clean DISCONNECT.
    const first = await login({ clientId, clean: false });
    expect(first.sessionPresent).toBe(false);
    expect(await first.client.subscribe(t, 1)).toBe(1);
    await first.client.disconnect();

    // Three readings while carwatch is down.
    const { client: pub } = await login({ clientId: "publisher" });
    const away = ["r1", "r2", "r3"];
    for (const m of away) await pub.publish(t, m);

    // Back: the broker kept the session (and its subscription) and delivers exactly those three.
    const back = await login({ clientId, clean: false });
    expect(back.sessionPresent).toBe(true);
    await expectExactly(back.client, pub, t, away);
    await back.client.disconnect();

    // One more while away, then a broker restart: the session and the queued message survive it.
    await pub.publish(t, "r4-before-restart");
    await pub.disconnect();
    await broker.restart();
    const afterRestart = await login({ clientId, clean: false });
    expect(afterRestart.sessionPresent).toBe(true);
    const { client: pub2 } = await login({ clientId: "publisher-2" });
    await expectExactly(afterRestart.client, pub2, t, ["r4-before-restart"]);
    await afterRestart.client.disconnect();
    await pub2.disconnect();
  });
});
