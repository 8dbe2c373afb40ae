% rebase('base.tpl', page=page)
<h1>Diagnostics</h1>
<h2>Checks</h2>
<ul class="checks">
% for c in diag['checks']:
  <li class="{{'ok' if c['ok'] else ('unknown' if c['ok'] is None else 'bad')}}"><strong>{{c['name']}}</strong>: {{'OK' if c['ok'] else ('not checked' if c['ok'] is None else 'problem')}}, {{c['detail']}}</li>
% end
</ul>
<h2>Debug session</h2>
<p>A debug session lets support see connection details (server addresses, handshake events, errors) for a limited time. They stay in the router's memory only, and are deleted when the session ends.</p>
% d = diag['debug']
% if d['open']:
<p id="debug-state" class="warning">A debug session{{(' opened from the ' + d['opened_by']) if d.get('opened_by') else ''}} is open until {{fmt('time', d['expires_at'])}} (<span id="countdown" data-expires="{{int(d['expires_at'])}}" data-now="{{int(d['now'])}}">{{'%d min left' % max(0, (d['expires_at'] - d['now']) // 60)}}</span>).</p>
% if not mine:
<p>Only whoever opened it sees what it records. Any administrator may close it; what it recorded is deleted.</p>
% end
<form method="post" action="/diagnostics/debug/close">
  <input type="hidden" name="csrf" value="{{page['csrf']}}">
  <button type="submit">Close the debug session now</button>
</form>
% if mine and entries is not None:
<h3>Recorded so far</h3>
<ol class="entries">
% for e in entries:
  <li><span class="when">{{fmt('time', e['time'])}}</span> {{e['category']}}: {{e['text']}}</li>
% end
</ol>
% end
% else:
<p id="debug-state">No debug session is open.</p>
<form method="post" action="/diagnostics/debug/open">
  <input type="hidden" name="csrf" value="{{page['csrf']}}">
  <label for="minutes">Time limit (minutes, at most 1440)</label>
  <input id="minutes" name="minutes" type="number" min="1" max="1440" value="30" required>
  <button type="submit">Open a debug session</button>
</form>
% end
<h2>Support bundle</h2>
<p>A text file with versions, settings and counters for VPN Spot support. It contains no addresses of your devices and nothing about what they visit.</p>
<p><a class="button" href="/diagnostics/bundle" download>Download the support bundle</a></p>
