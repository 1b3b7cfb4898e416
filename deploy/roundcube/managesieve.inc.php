<?php
// ManageSieve plugin of the mailstack-roundcube image: prepared, off by default. Turn it on by
// adding `managesieve` to ROUNDCUBE_PLUGINS once a ManageSieve server (RFC 5804) exists;
// ROUNDCUBE_MANAGESIEVE_HOST is tls://host:4190 (STARTTLS) by default. TLS options are those
// of config.inc.php (managesieve_conn_options).
$config = [];
$v = getenv('ROUNDCUBE_MANAGESIEVE_HOST');
$config['managesieve_host'] = ($v === false || $v === '') ? 'tls://imap-server:4190' : $v;
$config['managesieve_auth_type'] = null;
$config['managesieve_vacation'] = 1;
$config['managesieve_forward'] = 1;
