<?php
// ManageSieve plugin of the mailstack-roundcube image (on by default, see ROUNDCUBE_PLUGINS):
// filters, vacation and forwarding, stored by imap-server's ManageSieve (RFC 5804) in the
// users' homes and run by lmtp-mda at delivery. ROUNDCUBE_MANAGESIEVE_HOST is
// tls://imap-server:4190 (STARTTLS) by default. TLS options are those of config.inc.php
// (managesieve_conn_options).
$config = [];
$v = getenv('ROUNDCUBE_MANAGESIEVE_HOST');
$config['managesieve_host'] = ($v === false || $v === '') ? 'tls://imap-server:4190' : $v;
$config['managesieve_auth_type'] = null;
$config['managesieve_vacation'] = 1;
$config['managesieve_forward'] = 1;
