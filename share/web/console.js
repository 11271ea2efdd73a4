/* SPDX-License-Identifier: BSD-2-Clause */
// kbhyve's browser console: connects noVNC's RFB client to the bridge that served this page
// (ws://<this host>/websockify, subprotocol "binary"). The state is kept in
// window.kbhyveConsole {state, message} for people and for tests to read:
// connecting, password, connected, disconnected, failed.
import RFB from './novnc/core/rfb.js';

const $ = (id) => document.getElementById(id);
const state = { state: 'connecting', message: '' };
window.kbhyveConsole = state;

function show(st, message, error = false) {
    state.state = st;
    state.message = message;
    $('status').textContent = message;
    $('status').className = error ? 'error' : '';
}

const guest = new URLSearchParams(location.search).get('guest');
if (guest) {
    $('name').textContent = guest;
    document.title = guest + ' - kbhyve console';
}

const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
const rfb = new RFB($('screen'), `${scheme}://${location.host}/websockify`,
                    { wsProtocols: ['binary'] });
rfb.scaleViewport = $('scale').checked;
show('connecting', 'connecting');

rfb.addEventListener('connect', () => {
    $('login').hidden = true;
    $('cad').disabled = false;
    show('connected', 'connected');
    rfb.focus();
});
rfb.addEventListener('disconnect', (e) => {
    $('cad').disabled = true;
    if (e.detail.clean)
        show('disconnected', 'disconnected (reload the page to connect again)');
    else
        show('failed', 'the connection to the guest failed or was lost', true);
});
rfb.addEventListener('credentialsrequired', () => {
    $('login').hidden = false;
    $('password').focus();
    show('password', 'the guest\'s screen needs its VNC password');
});
rfb.addEventListener('securityfailure', (e) => {
    show('failed', 'refused: ' + (e.detail.reason || 'wrong password'), true);
});
rfb.addEventListener('desktopname', (e) => {
    if (!guest && e.detail.name)
        $('name').textContent = e.detail.name;
});

$('login').addEventListener('submit', (e) => {
    e.preventDefault();
    $('login').hidden = true;
    show('connecting', 'authenticating');
    rfb.sendCredentials({ password: $('password').value });
});
$('scale').addEventListener('change', () => { rfb.scaleViewport = $('scale').checked; });
$('cad').addEventListener('click', () => rfb.sendCtrlAltDel());
