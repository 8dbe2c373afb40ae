<ol class="steps" aria-label="Setup steps">
% for s in steps:
  <li class="{{'done' if s['done'] else 'todo'}}" id="step-{{s['key']}}">
% if s['current']:
    <strong aria-current="step">{{s['title']}}</strong>
% elif s['key'] == 'password':
    <span>{{s['title']}}</span>
% else:
    <a href="{{s['href']}}">{{s['title']}}</a>
% end
    <span class="step-state">{{('done: ' + s['detail']) if s['done'] and s['detail'] else ('done' if s['done'] else 'not done yet')}}</span>
  </li>
% end
</ol>
