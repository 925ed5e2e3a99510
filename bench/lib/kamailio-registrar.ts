/**
 * Kamailio as a PBX registrar (registrar + usrloc in memory, record-routing,
 * lookup("location") for registered users, every other number to
 * `extensions`): used by the registration bench and by the integration
 * tests of users registering through the SBC.
 */
const MODULES = '/usr/lib/x86_64-linux-gnu/kamailio/modules';

export function registrarConfig(address: string, port: number, extensions: { address: string; port: number }): string {
  return `#!KAMAILIO
debug=1
log_stderror=yes
children=2
tcp_children=2
auto_aliases=no
alias="pbx.local"
listen=udp:${address}:${port}
listen=tcp:${address}:${port}
mpath="${MODULES}/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "pv.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("registrar", "min_expires", 1)
modparam("registrar", "max_expires", 7200)

request_route {
  if (!mf_process_maxfwd_header("10")) {
    sl_send_reply("483", "Too Many Hops");
    exit;
  }
  if (has_totag()) {
    if (loose_route()) { t_relay(); exit; }
    if (is_method("ACK")) {
      if (t_check_trans()) { t_relay(); }
      exit;
    }
    sl_send_reply("404", "Not here");
    exit;
  }
  if (is_method("CANCEL")) {
    if (t_check_trans()) { t_relay(); }
    exit;
  }
  if (is_method("OPTIONS") && $rU == $null) {
    # Keep-alive probes (the SBC's proxy set): the PBX is up.
    sl_send_reply("200", "OK");
    exit;
  }
  if (is_method("REGISTER")) {
    if (!save("location")) { sl_reply_error(); }
    exit;
  }
  t_check_trans();
  record_route();
  if (lookup("location")) {
    t_relay();
    exit;
  }
  if ($rU =~ "^2") {
    sl_send_reply("404", "Not Found");
    exit;
  }
  $du = "sip:${extensions.address}:${extensions.port}";
  if (!t_relay()) { sl_reply_error(); }
  exit;
}
`;
}

