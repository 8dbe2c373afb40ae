% rebase('base.tpl', page=page)
<h1>WireGuard</h1>
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
<p class="flash ok" role="status" id="import-ok">The file is valid: {{result['peers']}} peer(s). It is saved for the agent.</p>
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
