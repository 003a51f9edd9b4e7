// Passkey ceremonies for the sign-in, suggestion and Settings > Passkeys
// pages. Plain JavaScript, no dependencies. The server does every check;
// this script carries options and answers between it and the browser,
// and turns failures into plain words with a code for support. It holds
// no words itself: the page gives them, in the member's language, in the
// #passkey-messages data island.
(() => {
  'use strict';

  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || '';
  const PKC = window.PublicKeyCredential;
  const supported = !!(PKC && navigator.credentials && navigator.credentials.create);

  // --- base64url and option conversion (for browsers without the JSON helpers)

  const toB64 = (buf) => {
    let s = '';
    for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };
  const fromB64 = (str) => {
    const s = atob(str.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((str.length + 3) % 4));
    return Uint8Array.from(s, (c) => c.charCodeAt(0));
  };

  const creationOptions = (o) => {
    if (PKC.parseCreationOptionsFromJSON) return PKC.parseCreationOptionsFromJSON(o);
    return {
      ...o,
      challenge: fromB64(o.challenge),
      user: { ...o.user, id: fromB64(o.user.id) },
      excludeCredentials: (o.excludeCredentials || []).map((c) => ({ ...c, id: fromB64(c.id) })),
    };
  };
  const requestOptions = (o) => {
    if (PKC.parseRequestOptionsFromJSON) return PKC.parseRequestOptionsFromJSON(o);
    return {
      ...o,
      challenge: fromB64(o.challenge),
      allowCredentials: (o.allowCredentials || []).map((c) => ({ ...c, id: fromB64(c.id) })),
    };
  };
  const credentialJSON = (cred) => {
    try {
      if (cred.toJSON) return cred.toJSON();
    } catch (e) { /* fall through to the manual form */ }
    const r = cred.response;
    const out = {
      id: cred.id, rawId: toB64(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64(r.clientDataJSON) },
    };
    if (r.attestationObject) {
      out.response.attestationObject = toB64(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toB64(r.authenticatorData);
      out.response.signature = toB64(r.signature);
      if (r.userHandle) out.response.userHandle = toB64(r.userHandle);
    }
    return out;
  };

  // --- talking to the server

  const post = async (url, body) => {
    const res = await fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(body),
    });
    let data = {};
    try { data = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) {
      const err = new Error(data.message || data.error || String(res.status));
      err.code = data.error || 'PK-FAILED';
      err.server = true; // the server refused: it counted the failure itself
      err.data = data;
      throw err;
    }
    return data;
  };

  // prepared fetches a ceremony's options ahead of the click, so that the
  // click handler calls the browser's prompt at once. Safari refuses a
  // prompt begun after an awaited network call (the click's user
  // activation is spent by then). A ceremony lives five minutes on the
  // server: options older than four are fetched again. first is options
  // the page came with (the sign-in page begins its ceremony itself).
  const FRESH_MS = 4 * 60 * 1000;
  // The buttons say data-ready while their options are at hand.
  const prepared = (url, body, buttons, first) => {
    let value = first || null;
    let at = first ? Date.now() : 0;
    let pending = null;
    const fresh = () => value && Date.now() - at < FRESH_MS;
    const mark = (ready) => buttons.forEach((b) => { if (ready) b.dataset.ready = ''; else delete b.dataset.ready; });
    if (first) mark(true);
    const warm = () => {
      if (pending || fresh()) return;
      pending = post(url, body)
        .then((v) => { value = v; at = Date.now(); mark(true); })
        .catch(() => { /* the click fetches them itself */ })
        .finally(() => { pending = null; });
    };
    return {
      warm,
      // take hands over options ready now (and fetches the next), or null.
      take() {
        const v = fresh() ? value : null;
        value = null;
        mark(false);
        setTimeout(warm, 0);
        return v;
      },
      fetch: () => post(url, body),
    };
  };

  // --- failures in plain words

  // {codes: {code: sentence}, text: {generic, cancelledHint, signInAgain}}
  const messages = (() => {
    const el = document.getElementById('passkey-messages');
    try { return el ? JSON.parse(el.textContent) : {}; } catch (e) { return {}; }
  })();
  const codeText = messages.codes || {};
  const text = messages.text || {};

  // codeOf names a failure by our codes. A DOMException carries a legacy
  // numeric code (InvalidStateError is 11): only its name says what it is.
  const codeOf = (err) => {
    if (err && err.server) return err.code;
    if (err && typeof err.code === 'string' && err.code.startsWith('PK-')) return err.code;
    switch (err && err.name) {
      case 'NotAllowedError': case 'AbortError': return 'PK-CANCELLED';
      case 'InvalidStateError': return 'PK-EXISTS';
      case 'SecurityError': return 'PK-SECURITY';
      case 'NotSupportedError': return 'PK-UNSUPPORTED';
    }
    return 'PK-FAILED';
  };

  // report tells the server about a ceremony that failed in the browser,
  // for the admins' figures: the server counts it once, for a ceremony
  // this browser began. Failures the server saw itself carry a code.
  const report = (stage, err, ceremony) => {
    if (!err || err.server || !ceremony) return;
    fetch('/webauthn/failure', {
      method: 'POST', credentials: 'same-origin', keepalive: true,
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify({ stage, code: codeOf(err), ceremony }),
    }).catch(() => {});
  };

  const statusBox = () => document.getElementById('passkey-status');

  const showError = (err, extra) => {
    const box = statusBox();
    if (!box) return;
    const code = codeOf(err);
    let msg = codeText[code] || (err && err.data && err.data.message) || text.generic || code;
    if (code === 'PK-CANCELLED' && text.cancelledHint) msg += ' ' + text.cancelledHint;
    box.querySelector('[data-msg]').textContent = extra ? msg + ' ' + extra : msg;
    box.querySelectorAll('[data-code]').forEach((el) => { el.textContent = code; });
    box.querySelectorAll('[data-check-link]').forEach((a) => {
      const stage = document.querySelector('[data-passkey-register]') ? 'setup' : 'signin';
      a.href = '/help/passkeys-check?' + new URLSearchParams({ code, stage });
    });
    const link = err && err.data && err.data.reauth;
    if (link) {
      const a = document.createElement('a');
      a.href = link;
      a.textContent = text.signInAgain || link;
      box.querySelector('[data-msg]').append(' ', a);
    }
    box.hidden = false;
    // A success said before is over: the error is what holds now.
    document.querySelectorAll('main .notice[role=status]').forEach((n) => {
      if (!n.closest('[data-passkey-name]')) n.hidden = true;
    });
    box.focus();
  };
  const clearError = () => { const box = statusBox(); if (box) box.hidden = true; };

  // --- the Signal API keeps the member's password manager in step

  const signal = async (s) => {
    if (!s || !PKC) return;
    const tasks = [];
    try {
      if (PKC.signalUnknownCredential && s.unknownCredentialId) {
        tasks.push(PKC.signalUnknownCredential({ rpId: s.rpId, credentialId: s.unknownCredentialId }));
      }
      if (PKC.signalAllAcceptedCredentials && s.userId) {
        tasks.push(PKC.signalAllAcceptedCredentials({ rpId: s.rpId, userId: s.userId, allAcceptedCredentialIds: s.allAcceptedCredentialIds || [] }));
      }
      if (PKC.signalCurrentUserDetails && s.userId) {
        tasks.push(PKC.signalCurrentUserDetails({ rpId: s.rpId, userId: s.userId, name: s.name, displayName: s.displayName }));
      }
    } catch (e) { /* a browser without the API, or one that refuses: nothing to do */ }
    await Promise.race([Promise.allSettled(tasks), new Promise((r) => setTimeout(r, 500))]);
  };

  // --- sign in

  const finishLogin = async (begin, credential, flow) => {
    const done = await post('/webauthn/login/finish', {
      ceremony: begin.ceremony, credential: credentialJSON(credential),
      authRequestID: flow.authRequestID || '', next: flow.next || '',
    });
    await signal(done.signals);
    window.location.assign(done.redirect);
  };

  const loginError = async (err, begin) => {
    report('login', err, begin && begin.ceremony);
    // A passkey the site no longer knows: tell the password manager. The
    // server names the RP ID (passkeys.rp_id), which may be a parent
    // domain of this page's host.
    const d = err && err.data;
    if (d && d.credentialId && d.rpId && PKC && PKC.signalUnknownCredential) {
      try {
        await PKC.signalUnknownCredential({ rpId: d.rpId, credentialId: d.credentialId });
      } catch (e) { /* best effort */ }
    }
    showError(err);
  };

  const loginButton = document.querySelector('[data-passkey-login]');
  if (loginButton) {
    if (!supported) {
      showError({ code: 'PK-UNSUPPORTED' });
      loginButton.disabled = true;
    }
    // The page may come with the first options (begun when it was made).
    const first = (() => {
      const el = document.getElementById('passkey-options');
      try { return el ? JSON.parse(el.textContent) : null; } catch (e) { return null; }
    })();
    const loginOptions = prepared('/webauthn/login/begin', { login: loginButton.dataset.passkeyLogin }, [loginButton], first);
    if (supported) loginOptions.warm();
    loginButton.addEventListener('click', async () => {
      clearError();
      loginButton.disabled = true;
      const flow = { authRequestID: loginButton.dataset.authRequest, next: loginButton.dataset.next };
      let begin = loginOptions.take();
      try {
        if (!begin) begin = await loginOptions.fetch();
        const credential = await navigator.credentials.get({ publicKey: requestOptions(begin.publicKey) });
        await finishLogin(begin, credential, flow);
      } catch (err) {
        await loginError(err, begin);
        loginButton.disabled = false;
      }
    });
  }

  // Usernameless sign-in from the field's autofill (conditional mediation).
  const autofill = document.querySelector('[data-passkey-autofill]');
  if (autofill && supported && PKC.isConditionalMediationAvailable) {
    (async () => {
      if (!(await PKC.isConditionalMediationAvailable())) return;
      const form = autofill.form;
      const abort = new AbortController();
      form.addEventListener('submit', () => abort.abort());
      const flow = {
        authRequestID: form.querySelector('[name=authRequestID]')?.value,
        next: form.querySelector('[name=next]')?.value,
      };
      let begin;
      let picked = false;
      try {
        begin = await post('/webauthn/login/begin', { conditional: true });
        const credential = await navigator.credentials.get({
          mediation: 'conditional', signal: abort.signal, publicKey: requestOptions(begin.publicKey),
        });
        picked = true;
        await finishLogin(begin, credential, flow);
      } catch (err) {
        // Until the member picks a passkey from the autofill, nothing was
        // asked of them: no passkey on this device, leaving the page or
        // typing a name instead is no failure, shown or counted. Once
        // picked, the server's refusal is shown like the button's.
        if (picked) await loginError(err, begin);
      }
    })();
  }

  // --- create a passkey (Settings > Passkeys, the suggestion)

  const nameForm = document.querySelector('[data-passkey-name]');

  // register creates a passkey; a failure carries the ceremony it ended
  // (err.ceremony) for the report. With ready (options fetched before
  // the click) the prompt opens before anything is awaited; hints tell
  // the browser which authenticator to offer first.
  const register = async (conditional, abort, source, ready, hints) => {
    const begin = ready || await post('/webauthn/register/begin', { conditional });
    const publicKey = hints && hints.length ? { ...begin.publicKey, hints } : begin.publicKey;
    const options = { publicKey: creationOptions(publicKey) };
    if (conditional) {
      options.mediation = 'conditional';
      options.signal = abort.signal;
    }
    let credential;
    try {
      credential = await navigator.credentials.create(options);
    } catch (err) {
      if (err && typeof err === 'object') err.ceremony = begin.ceremony;
      throw err;
    }
    return post('/webauthn/register/finish', { ceremony: begin.ceremony, credential: credentialJSON(credential), source: source || '' });
  };

  // askName shows the naming form for a passkey just added.
  const askName = (added, target) => {
    if (!nameForm) return;
    nameForm.action = added.rename;
    nameForm.querySelector('[name=name]').value = added.name;
    if (target) {
      nameForm.querySelector('[name=continue]').value = target.continue;
      nameForm.querySelector('[name=sig]').value = target.sig;
    }
    nameForm.hidden = false;
    const input = nameForm.querySelector('[name=name]');
    input.focus();
    input.select();
  };

  const suggest = document.querySelector('[data-suggest]');
  const suggestTarget = () => suggest && {
    continue: suggest.dataset.continue,
    sig: suggest.querySelector('[name=sig]')?.value || '',
  };

  const registerButtons = document.querySelectorAll('[data-passkey-register]');
  const registerOptions = prepared('/webauthn/register/begin', { conditional: false }, [...registerButtons]);
  if (supported && registerButtons.length) registerOptions.warm();
  registerButtons.forEach((button) => {
    if (!supported) {
      button.disabled = true;
      showError({ code: 'PK-UNSUPPORTED' });
      return;
    }
    const hints = (button.dataset.hints || '').split(' ').filter(Boolean);
    button.addEventListener('click', async () => {
      clearError();
      registerButtons.forEach((b) => { b.disabled = true; });
      const ready = registerOptions.take();
      try {
        const added = await register(false, null, suggest ? 'suggestion' : 'settings', ready, hints);
        await signal(added.signals);
        registerButtons.forEach((b) => { b.hidden = true; });
        // Only the success is left: the pitch and "Not now" are done with,
        // and the list is no longer empty.
        const body = suggest && suggest.querySelector('[data-suggest-body]');
        if (body) body.hidden = true;
        document.querySelectorAll('[data-passkeys-none]').forEach((p) => { p.hidden = true; });
        askName(added, suggestTarget());
      } catch (err) {
        report('register', err, err && err.ceremony);
        showError(err);
        registerButtons.forEach((b) => { b.disabled = false; });
      }
    });
  });

  // Signals a page asks for on load (after a rename or delete).
  const pageSignals = document.getElementById('passkey-signals');
  if (pageSignals) {
    try { signal(JSON.parse(pageSignals.textContent)); } catch (e) { /* ignore */ }
  }

  // --- the suggestion: only where this browser can create a passkey

  if (suggest) {
    const body = suggest.querySelector('[data-suggest-body]');
    const wait = suggest.querySelector('[data-suggest-wait]');
    const go = () => window.location.replace(suggest.dataset.continue);
    (async () => {
      let caps = {};
      try { if (PKC && PKC.getClientCapabilities) caps = await PKC.getClientCapabilities(); } catch (e) { /* none */ }
      // The password manager may create the passkey on its own (auto_upgrade).
      if (suggest.dataset.autoUpgrade === 'true' && caps.conditionalCreate) {
        const abort = new AbortController();
        const timer = setTimeout(() => abort.abort(), 3000);
        try {
          const added = await register(true, abort, 'auto-upgrade');
          clearTimeout(timer);
          // Keep the password manager's list in step, then on to the app;
          // Settings > Passkeys shows the new passkey as created
          // automatically, with Delete.
          try { await signal(added.signals); } catch (e) { /* best effort */ }
          go();
          return;
        } catch (e) { clearTimeout(timer); /* not now: fall back to asking */ }
      }
      let canCreate = false;
      try {
        canCreate = supported && (caps.passkeyPlatformAuthenticator || caps.userVerifyingPlatformAuthenticator ||
          (await PKC.isUserVerifyingPlatformAuthenticatorAvailable()));
      } catch (e) { canCreate = false; }
      if (!canCreate || suggest.dataset.snoozed === 'true') {
        go();
        return;
      }
      wait.hidden = true;
      body.hidden = false;
      body.querySelector('[data-passkey-register]')?.focus();
    })();
  }

  // --- show the password being typed, on request

  document.querySelectorAll('input[data-reveal]').forEach((input, i) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'link reveal';
    button.textContent = input.dataset.reveal;
    button.setAttribute('aria-pressed', 'false');
    if (!input.id) input.id = 'password-' + i;
    button.setAttribute('aria-controls', input.id);
    button.addEventListener('click', () => {
      const shown = input.type === 'text';
      input.type = shown ? 'password' : 'text';
      button.textContent = shown ? input.dataset.reveal : input.dataset.conceal;
      button.setAttribute('aria-pressed', String(!shown));
      input.focus();
    });
    // Shown or not, what is sent is sent as a password.
    input.form?.addEventListener('submit', () => { input.type = 'password'; });
    input.insertAdjacentElement('afterend', button);
  });

  // Cancel in an inline confirmation closes it, without a reload.
  document.querySelectorAll('[data-close-details]').forEach((a) => {
    a.addEventListener('click', (e) => {
      const d = a.closest('details');
      if (!d) return;
      e.preventDefault();
      d.open = false;
      d.querySelector('summary')?.focus();
    });
  });

  // --- times: older dates in the reader's own time zone and language

  document.querySelectorAll('time[data-local]').forEach((el) => {
    const at = new Date(el.getAttribute('datetime'));
    if (Number.isNaN(at.getTime())) return;
    try {
      el.title = el.textContent; // the UTC time, on hover
      el.textContent = new Intl.DateTimeFormat(document.documentElement.lang || undefined,
        { dateStyle: 'medium', timeStyle: 'short' }).format(at);
    } catch (e) { /* an old browser keeps the UTC time */ }
  });

  // --- "Can I use passkeys here?" (/help/passkeys-check)

  const check = document.querySelector('[data-passkey-check]');
  if (check) {
    let words = {};
    try { words = JSON.parse(document.getElementById('check-texts').textContent); } catch (e) { /* none */ }
    const results = {};
    const show = (name, ok) => {
      results[name] = ok;
      const li = check.querySelector('[data-check="' + name + '"]');
      if (li) {
        li.dataset.result = ok === true ? 'yes' : ok === false ? 'no' : 'unknown';
        li.textContent = words[name + (ok === false ? '_no' : '_yes')] || '';
      }
    };
    const report = () => {
      const yn = (v) => (v === true ? words.yes : v === false ? words.no : words.unknown);
      const webview = check.querySelector('[data-check=webview]').dataset.result === 'no';
      const parts = [
        [words.summary_webauthn, yn(results.webauthn)], [words.summary_platform, yn(results.platform)],
        [words.summary_conditional, yn(results.conditional)], [words.summary_hybrid, yn(results.hybrid)],
        [words.summary_webview, yn(webview)],
      ];
      const dd = document.querySelector('[data-report=checks]');
      if (dd) dd.textContent = parts.map(([k, v]) => k + ': ' + v).join('; ');
      const verdict = check.querySelector('[data-check-verdict]');
      if (verdict) verdict.textContent = results.webauthn && !webview ? words.verdict_yes : words.verdict_no;
    };
    (async () => {
      show('webauthn', supported);
      const ask = async (fn) => { try { return fn ? !!(await fn.call(PKC)) : undefined; } catch (e) { return undefined; } };
      show('platform', supported ? await ask(PKC.isUserVerifyingPlatformAuthenticatorAvailable) : false);
      show('conditional', supported ? await ask(PKC.isConditionalMediationAvailable) : false);
      let caps = {};
      try { if (supported && PKC.getClientCapabilities) caps = await PKC.getClientCapabilities(); } catch (e) { /* none */ }
      show('hybrid', supported ? (caps.hybridTransport === undefined ? undefined : !!caps.hybridTransport) : false);
      report();
    })();
    // The member's answers go into the report as they choose them.
    document.querySelectorAll('[data-report-answer]').forEach((input) => {
      input.addEventListener('change', () => {
        const dd = document.querySelector('[data-report="' + input.dataset.reportAnswer + '"]');
        if (dd) dd.textContent = input.closest('label').textContent.trim();
      });
    });
  }

  // --- copying: the support details, or a link to open elsewhere

  // copy puts text on the clipboard and says so on the button; without
  // clipboard access it selects el, so it can be copied by hand.
  const copy = async (button, el, text) => {
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {
      const range = document.createRange();
      range.selectNodeContents(el);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      return;
    }
    const label = button.textContent;
    button.textContent = button.dataset.copied;
    setTimeout(() => { button.textContent = label; }, 2000);
  };

  // The support details go as "name: value" lines.
  document.querySelectorAll('[data-copy]').forEach((button) => {
    button.addEventListener('click', () => {
      const details = document.getElementById(button.dataset.copy);
      if (!details) return;
      const lines = [];
      details.querySelectorAll('dt').forEach((dt) => {
        const dd = dt.nextElementSibling;
        if (dd) lines.push(dt.textContent.trim() + ': ' + dd.textContent.trim());
      });
      copy(button, details, lines.join('\n'));
    });
  });

  // A link goes as it is (an app's built-in browser: open it elsewhere).
  document.querySelectorAll('[data-copy-text]').forEach((button) => {
    button.addEventListener('click', () => {
      const el = document.getElementById(button.dataset.copyText);
      if (el) copy(button, el, el.textContent.trim());
    });
  });
})();
