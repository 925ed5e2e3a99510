/**
 * Two real softphones (Debian's baresip) call each other directly, without
 * the SBC: proves the baresip driver before the SBC is put between them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assertBaresipInstalled,
  startBaresip,
  stopAll,
  type BaresipCallStats,
  type BaresipInstance,
} from './helpers/baresip.js';

const CALL_SECONDS = 3;
/** CALL_CLOSED reasons baresip gives: it sent the BYE / it received one. */
const HUNG_UP_HERE = 'Connection reset by user';
const BYE_RECEIVED = 'Connection reset by peer';

/** 16-bit PCM mono WAV of a tone: what aufile plays. */
function toneWav(rate: number, seconds: number, hz: number): Buffer {
  const samples = rate * seconds;
  const buf = Buffer.alloc(44 + samples * 2);
  buf.write('RIFF', 0, 'latin1');
  buf.writeUInt32LE(36 + samples * 2, 4);
  buf.write('WAVEfmt ', 8, 'latin1');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36, 'latin1');
  buf.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i++) buf.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * hz * i) / rate)), 44 + i * 2);
  return buf;
}

/** Both directions carried audio for the whole call (50 packets/s at ptime 20). */
function expectAudioBothWays(caller: BaresipCallStats, callee: BaresipCallStats): void {
  const minPackets = 25 * (CALL_SECONDS - 1);
  expect(caller.txPackets).toBeGreaterThan(minPackets);
  expect(caller.rxPackets).toBeGreaterThan(minPackets);
  expect(callee.txPackets).toBeGreaterThan(minPackets);
  expect(callee.rxPackets).toBeGreaterThan(minPackets);
  // What one side received is what the other sent, bar the packets in flight at start and end.
  expect(callee.rxPackets).toBeGreaterThanOrEqual(Math.floor(caller.txPackets * 0.8));
  expect(caller.rxPackets).toBeGreaterThanOrEqual(Math.floor(callee.txPackets * 0.8));
  expect(caller.rxErrors + caller.txErrors + callee.rxErrors + callee.txErrors).toBe(0);
}

async function holdCall(): Promise<void> {
  // The call's length is the scenario (audio must flow for a while), not a timing assertion.
  await new Promise((r) => setTimeout(r, CALL_SECONDS * 1000));
}

describe('baresip direct calls (no SBC)', () => {
  let a: BaresipInstance | undefined;
  let b: BaresipInstance | undefined;
  let dir = '';

  beforeAll(async () => {
    assertBaresipInstalled();
    dir = await mkdtemp(join(tmpdir(), 'baresip-test-'));
    const wav = join(dir, 'tone-8k.wav');
    // aufile ends the call when the file ends: make it outlast every call.
    await writeFile(wav, toneWav(8000, CALL_SECONDS + 10, 700));
    [a, b] = await Promise.all([
      startBaresip({ name: 'alice', audio: { file: wav } }),
      // `200` stands for the number an SBC would send the call to.
      startBaresip({ name: 'bob', aliases: ['200'], autoAnswer: true, audio: { tone: 440 } }),
    ]);
  });

  afterAll(async () => {
    await stopAll([a, b]);
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('caller hangs up: both sides see the call established, then closed, with audio both ways', async () => {
    const A = a!;
    const B = b!;
    await A.dial(B.sipUri);
    const [estA, estB] = await Promise.all([A.waitForEvent('CALL_ESTABLISHED'), B.waitForEvent('CALL_ESTABLISHED')]);
    expect(estA.direction).toBe('outgoing');
    expect(estB.direction).toBe('incoming');
    expect(estA.id).toBe(estB.id); // same Call-ID: nothing between them
    await holdCall();
    await A.hangup();
    const [closedA, closedB] = await Promise.all([A.waitForEvent('CALL_CLOSED'), B.waitForEvent('CALL_CLOSED')]);
    expect(closedA.id).toBe(estA.id);
    expect(closedB.id).toBe(estB.id);
    expect(closedA.param).toBe(HUNG_UP_HERE);
    expect(closedB.param).toBe(BYE_RECEIVED);
    const [statsA, statsB] = await Promise.all([A.waitForCallStats(), B.waitForCallStats()]);
    expectAudioBothWays(statsA, statsB);
  });

  it('callee hangs up; the callee answers a number other than its own user (alias)', async () => {
    const A = a!;
    const B = b!;
    await A.dial(`sip:200@127.0.0.1:${B.sipPort}`);
    const [estA, estB] = await Promise.all([A.waitForEvent('CALL_ESTABLISHED'), B.waitForEvent('CALL_ESTABLISHED')]);
    expect(estA.id).toBe(estB.id);
    await holdCall();
    await B.hangup();
    const [closedA, closedB] = await Promise.all([A.waitForEvent('CALL_CLOSED'), B.waitForEvent('CALL_CLOSED')]);
    expect(closedA.id).toBe(estA.id);
    expect(closedB.id).toBe(estB.id);
    expect(closedB.param).toBe(HUNG_UP_HERE);
    expect(closedA.param).toBe(BYE_RECEIVED);
    const [statsA, statsB] = await Promise.all([A.waitForCallStats(), B.waitForCallStats()]);
    expectAudioBothWays(statsA, statsB);
  });

  it('a number the callee does not have is refused with 404 (no catch-all in baresip 1.0)', async () => {
    const A = a!;
    await A.dial(`sip:999@127.0.0.1:${b!.sipPort}`);
    const closed = await A.waitForEvent('CALL_CLOSED');
    expect(closed.param).toMatch(/^404\b/);
  });

  // A missing srtp module fails the test (with how to install it); it is never skipped.
  it('SRTP (SDES, mediaenc=srtp) on both sides: keys agreed, audio both ways', async () => {
    assertBaresipInstalled(['srtp']);
    let sa: BaresipInstance | undefined;
    let sb: BaresipInstance | undefined;
    try {
      [sa, sb] = await Promise.all([
        startBaresip({ name: 'srtp-a', srtp: 'srtp' }),
        startBaresip({ name: 'srtp-b', srtp: 'srtp', autoAnswer: true }),
      ]);
      await sa.dial(sb.sipUri);
      const [mencA, mencB] = await Promise.all([sa.waitForEvent('CALL_MENC'), sb.waitForEvent('CALL_MENC')]);
      expect(mencA.param).toMatch(/AES_CM_128_HMAC_SHA1_(80|32)/);
      expect(mencB.param).toMatch(/AES_CM_128_HMAC_SHA1_(80|32)/);
      await Promise.all([sa.waitForEvent('CALL_ESTABLISHED'), sb.waitForEvent('CALL_ESTABLISHED')]);
      await holdCall();
      await sa.hangup();
      await Promise.all([sa.waitForEvent('CALL_CLOSED'), sb.waitForEvent('CALL_CLOSED')]);
      // A wrong key would show up as receive errors and no decoded packets.
      const [statsA, statsB] = await Promise.all([sa.waitForCallStats(), sb.waitForCallStats()]);
      expectAudioBothWays(statsA, statsB);
    } finally {
      await stopAll([sa, sb]);
    }
  });

  it('rejects a dial string that is not a SIP URI', async () => {
    await expect(a!.dial('not a uri')).rejects.toThrow(/not a SIP URI/);
  });
});
