// Shared by the console's pages: how durations, parties, times and QoE look.
import { h } from 'preact';
import htm from 'htm';

const html = htm.bind(h);

export const fmtDuration = (sec) => {
  const s = Math.max(0, Math.round(sec));
  return `${Math.floor(s / 3600)}:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};

/** The user part of a From/To header or URI (the whole text when it has none). */
export const userOf = (v) => (v ?? '').match(/<?(?:sips?|tel):([^@;>]+)/)?.[1] ?? (v ?? '');

/** A time (epoch ms or ISO text) as local date and time; '-' when absent. */
export const fmtTime = (v) => {
  if (v === null || v === undefined || v === '') return '-';
  const d = new Date(typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v);
  return Number.isNaN(d.getTime()) ? String(v) : d.toLocaleString();
};

/** A MOS value (number or text) with two decimals; '-' when unmeasured. */
export const fmtMos = (v) => {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && v !== '' && Number.isFinite(n) ? n.toFixed(2) : '-';
};

/** Per media stream: worst MOS / loss / jitter of both legs, coloured by the IP Group's QoE verdict (docs/qoe.md). */
export function Qoe({ qoe }) {
  if (qoe === null || qoe === undefined) return html`<span class="qoe qoe-none">no media measured</span>`;
  return (qoe.streams ?? []).map((s) => {
    const rx = [s.A?.rx, s.B?.rx].filter(Boolean);
    const mos = Math.min(...rx.map((d) => d.mos ?? 5));
    const loss = Math.max(...rx.map((d) => d.lossPct ?? 0));
    const jitter = Math.max(...rx.map((d) => d.jitterMs ?? 0));
    const color = s.verdict ?? 'gray';
    return html`<span class=${`qoe qoe-${color}`} data-qoe=${color} title=${`${s.media} ${s.coder ?? ''}: QoE ${color}`}>
      ${s.media} MOS ${mos === 5 ? '-' : mos.toFixed(2)} · loss ${loss.toFixed(1)} % · jitter ${jitter.toFixed(1)} ms</span>`;
  });
}

/** A QoE colour as a badge. */
export const Verdict = ({ v }) => (v ? html`<span class=${`qoe qoe-${v}`} data-qoe=${v}>${v}</span>` : html`<span class="muted">-</span>`);
