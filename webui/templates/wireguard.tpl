% rebase('base.tpl', page=page)
<h1>WireGuard</h1>
<section class="note" id="server-source" aria-live="polite">
% if own['in_use']:
  <p id="own-in-use"><strong>In use: your own server</strong>{{(' (' + own['imported']['endpoint'] + ')') if own['imported'] else ''}}. The router does not contact VPN Spot and sends it no reports while your own server is in use.</p>
% if own['problem']:
  <p class="error" id="own-problem">The router cannot use it: {{own['problem']}}</p>
% end
% else:
  <p id="vpnspot-in-use"><strong>In use: VPN Spot servers</strong>, chosen on the Servers page.</p>
% end
% if own['imported']:
  <p id="own-imported">Imported: your own server {{own['imported']['endpoint']}}, {{own['imported']['peers']}} peer(s), tunnel address {{', '.join(own['imported']['addresses'])}}.</p>
  <form method="post" action="/wireguard/use">
    <input type="hidden" name="csrf" value="{{page['csrf']}}">
    <button type="submit" id="use-own" {{'disabled' if own['locked'] else ''}} aria-describedby="source-help">Use this configuration</button>
  </form>
% end
% if own['in_use']:
  <form method="post" action="/wireguard/vpnspot">
    <input type="hidden" name="csrf" value="{{page['csrf']}}">
    <button type="submit" id="use-vpnspot" {{'disabled' if own['locked'] else ''}} aria-describedby="source-help">Use VPN Spot servers</button>
  </form>
% end
% if own['locked']:
  <p class="locked" id="source-help">Which server the tunnel goes to is {{own['locked']}}.</p>
% else:
  <p class="hint" id="source-help">With your own server, all traffic of your home goes through the tunnel to it, with the same kill switch, DNS and IPv6 protection.</p>
% end
</section>
<h2>Use your own server</h2>
<p>Upload a standard WireGuard <code>.conf</code> file, or paste its text.</p>
% if error:
<div class="error" role="alert" id="import-error">
  <p>This file cannot be used: {{error['message']}}</p>
% if error['line']:
  <p>Line {{error['line']}}{{(', field ' + error['field']) if error['field'] else ''}}.</p>
% end
</div>
% end
% if result:
<p class="flash ok" role="status" id="import-ok">The file is valid: {{result['peers']}} peer(s). It is saved on the router; choose "Use this configuration" above to send all traffic of your home to your own server with it.</p>
% for w in result.get('warnings', []):
<p class="note">{{w}}</p>
% end
% end
<form method="post" action="/wireguard/import" enctype="multipart/form-data">
  <input type="hidden" name="csrf" value="{{page['csrf']}}">
  <label for="conf">Config file (.conf)</label>
  <input id="conf" name="conf" type="file" accept=".conf,text/plain">
  <label for="text">Or paste the file's text</label>
  <textarea id="text" name="text" rows="8" maxlength="65536" spellcheck="false"></textarea>
  <button type="submit">Check and import</button>
</form>
<h2>Export this router's configuration</h2>
<form method="post" action="/wireguard/export">
  <input type="hidden" name="csrf" value="{{page['csrf']}}">
  <div class="choice"><input type="checkbox" id="include_private" name="include_private" value="1" aria-describedby="pk-help">
  <label for="include_private">Include the private key</label></div>
  <p class="hint" id="pk-help">Without it the file is safe to share with support. With it, anyone holding the file can act as this router.</p>
  <button type="submit">Download .conf</button>
</form>
