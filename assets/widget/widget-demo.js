// The demo page: loads the widget with the sample token, lets the visitor try looks,
// and shows the embed code for the current choice. No inline script: the page runs
// under a strict Content-Security-Policy.
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };

  function ready() {
    var meta = document.querySelector('meta[name="docent-demo-token"]');
    var token = meta ? meta.content.trim() : '';
    // An empty token, or the placeholder left as it is: the server has no sample bot.
    if (!token || token.indexOf('{{') === 0) {
      $('no-token').hidden = false;
      $('playground').hidden = true;
      return;
    }
    var form = $('look');
    var fields = ['theme', 'position', 'primaryColor', 'bubbleIcon', 'title'];
    var attrs = {theme: 'data-theme', position: 'data-position', primaryColor: 'data-primary-color',
      bubbleIcon: 'data-bubble-icon', title: 'data-title'};

    function look() {
      var out = {};
      fields.forEach(function (f) { out[f] = form.elements[f].value.trim(); });
      return out;
    }
    function attr(value) {
      return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    }
    function embed() {
      var l = look();
      var code = '<script src="' + attr(location.origin + '/static/widget.js') + '" data-token="' + attr(token) + '"';
      fields.forEach(function (f) {
        if (l[f]) code += ' ' + attrs[f] + '="' + attr(l[f]) + '"';
      });
      $('embed').textContent = code + ' async></' + 'script>';
      $('copy-status').textContent = '';
    }
    function configure() {
      embed();
      if (window.Docent && window.Docent.configure) {
        var l = look();
        // An empty title or icon means the bot's own.
        window.Docent.configure({theme: l.theme, position: l.position, primaryColor: l.primaryColor,
          bubbleIcon: l.bubbleIcon || undefined, title: l.title || undefined});
      }
    }
    form.addEventListener('input', configure);
    form.addEventListener('change', configure);
    form.addEventListener('submit', function (e) { e.preventDefault(); });

    $('open-chat').addEventListener('click', function () { window.Docent && window.Docent.open(); });
    $('ask').addEventListener('click', function () {
      window.Docent && window.Docent.send('How do I embed the widget?');
    });
    $('copy').addEventListener('click', function () {
      var text = $('embed').textContent, status = $('copy-status');
      function selectIt() {
        var range = document.createRange();
        range.selectNodeContents($('embed'));
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        status.textContent = 'Selected: press Ctrl+C (or ⌘C) to copy.';
      }
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(function () {
          status.textContent = 'Copied to the clipboard.';
        }, selectIt);
      } else {
        selectIt();
      }
    });

    embed();
    var script = document.createElement('script');
    script.src = '/static/widget.js';
    script.async = true;
    script.setAttribute('data-token', token);
    document.body.appendChild(script);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', ready);
  else ready();
})();
