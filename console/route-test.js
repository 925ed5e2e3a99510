// "Test route": what the SBC would do with a request, from the `sbc route`
// explainer on the running configuration (POST /api/v1/routing/explain;
// Monitor may use it): classification, manipulation, the routing rows tried
// and the destination.
import { h } from 'preact';
import { useState } from 'preact/hooks';
import htm from 'htm';
import { api, failure } from './api.js';

const html = htm.bind(h);

const FIELDS = [
  ['from', 'From URI', 'sip:1001@pbx.example', 'The caller (From header), e.g. sip:1001@pbx.example'],
  ['to', 'To URI', 'sip:+15551234@sbc.example', 'The callee (To header)'],
  ['srcIp', 'Source address', '10.0.0.5', 'IP address the request arrives from (classification)'],
  ['srcPort', 'Source port', '5060', 'Port it arrives from'],
  ['requestUri', 'Request-URI (if not the To URI)', '', 'Routing matches the Request-URI user and host'],
  ['sipInterface', 'SIP Interface (empty: guessed)', '', 'SIPInterface name the request arrives on'],
];

export function RouteTest({ session }) {
  const [out, setOut] = useState(null);
  const submit = async (ev) => {
    ev.preventDefault();
    const f = Object.fromEntries(new FormData(ev.target).entries());
    const r = await api(session, 'POST', '/api/v1/routing/explain', f);
    setOut(r.status === 200 ? r.data : { error: failure(r) });
  };
  const res = out?.result;
  return html`<section class="card" aria-labelledby="rt-title"><h2 id="rt-title">Test route</h2>
    <p class="muted">Runs the <code>sbc route</code> explainer on the running configuration (proxy servers taken as up).</p>
    <form class="route-form" onSubmit=${submit}>
      ${FIELDS.map(([name, label, placeholder, help]) => html`<div class="field"><label for=${`rt-${name}`}>${label}</label>
        <input id=${`rt-${name}`} name=${name} placeholder=${placeholder} required=${name === 'from' || name === 'to' || name === 'srcIp'} aria-describedby=${`rt-${name}-help`} />
        <small id=${`rt-${name}-help`} class="muted">${help}</small></div>`)}
      <div class="field"><label for="rt-transport">Transport</label><select id="rt-transport" name="transport">
        ${['udp', 'tcp', 'tls', 'ws'].map((t) => html`<option value=${t}>${t}</option>`)}</select></div>
      <div class="field"><label for="rt-method">Method</label><select id="rt-method" name="method">
        ${['INVITE', 'REGISTER', 'SUBSCRIBE', 'OPTIONS', 'MESSAGE', 'NOTIFY'].map((m) => html`<option value=${m}>${m}</option>`)}</select></div>
      <p class="buttons"><button type="submit">Explain</button></p>
    </form>
    <div aria-live="polite">
    ${out?.error && html`<p class="error" role="alert">${out.error}</p>`}
    ${res && html`<p data-testid="route-result" data-outcome=${res.outcome}><strong>${
      res.outcome === 'route' ? `Routed by IP2IPRouting ${res.routeIndex}${res.routeName ? ` (${res.routeName})` : ''}: ${res.srcIpGroup} → ${res.destination}`
        : res.outcome === 'no-route' ? `No route from ${res.srcIpGroup}: ${res.reason} (answered ${res.response})`
          : `Rejected: ${res.reason} (${res.response === 'drop' ? 'dropped' : `answered ${res.response}`})`}</strong></p>
      <pre class="trace" data-testid="route-trace">${out.lines.join('\n')}</pre>`}
    </div></section>`;
}
