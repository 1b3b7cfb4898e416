<?php
// Roundcube configuration of the mailstack-roundcube image: every site-specific value comes
// from the container's environment (see docs/roundcube.md); the defaults are those of
// /etc/roundcube/defaults.inc.php. The entrypoint has checked the required variables.

$env = function (string $name, ?string $default = null): ?string {
    $v = getenv($name);
    return ($v === false || $v === '') ? $default : $v;
};
$flag = function (string $name, bool $default) use ($env): bool {
    $v = $env($name);
    return $v === null ? $default : in_array(strtolower($v), ['1', 'true', 'yes', 'on'], true);
};

$config = [];

// The database: SQLite in the volume /var/lib/roundcube/db (sessions, users, contacts, cache).
$config['db_dsnw'] = 'sqlite:///' . $env('ROUNDCUBE_DB_DIR', '/var/lib/roundcube/db')
    . '/roundcube.db?mode=0640';

// IMAP (imap-server): ssl://host:993 (implicit TLS) or tls://host:143 (STARTTLS).
$config['imap_host'] = $env('ROUNDCUBE_IMAP_HOST', 'ssl://imap-server:993');
// Submission: ssl://host:465 (implicit TLS) or tls://host:587 (STARTTLS), with the user's login.
$config['smtp_host'] = $env('ROUNDCUBE_SMTP_HOST', 'ssl://submission:465');
$config['smtp_user'] = '%u';
$config['smtp_pass'] = '%p';

// TLS towards IMAP, submission and ManageSieve: verification on unless turned off; a CA file
// (e.g. the self-signed certificate of a test, mounted) and the name expected in the
// certificate when it differs from the host part of the URLs above.
$tls = [
    'verify_peer' => $flag('ROUNDCUBE_TLS_VERIFY', true),
    'verify_peer_name' => $flag('ROUNDCUBE_TLS_VERIFY', true),
    'allow_self_signed' => false,
    'verify_depth' => 5,
];
if ($env('ROUNDCUBE_TLS_CA_FILE') !== null) {
    $tls['cafile'] = $env('ROUNDCUBE_TLS_CA_FILE');
}
if ($env('ROUNDCUBE_TLS_PEER_NAME') !== null) {
    $tls['peer_name'] = $env('ROUNDCUBE_TLS_PEER_NAME');
}
$config['imap_conn_options'] = ['ssl' => $tls];
$config['smtp_conn_options'] = ['ssl' => $tls];
$config['managesieve_conn_options'] = ['ssl' => $tls];

// Logins without a domain get this one appended (empty: the full address is the login).
$config['username_domain'] = $env('ROUNDCUBE_USERNAME_DOMAIN', '');

$config['des_key'] = $env('ROUNDCUBE_DES_KEY');
$config['product_name'] = $env('ROUNDCUBE_PRODUCT_NAME', 'Webmail');
$config['support_url'] = '';
$config['skin'] = 'elastic';
$config['plugins'] = array_values(array_filter(array_map('trim',
    explode(',', $env('ROUNDCUBE_PLUGINS', 'archive,zipdownload,managesieve')))));

// The folders of the store (Maildir++ .Sent, .Drafts, .Trash, .Junk), created at first login.
$config['drafts_mbox'] = 'Drafts';
$config['junk_mbox'] = 'Junk';
$config['sent_mbox'] = 'Sent';
$config['trash_mbox'] = 'Trash';
$config['create_default_folders'] = true;

// Reverse proxies: nginx believes X-Forwarded-For/-Proto from ROUNDCUBE_TRUSTED_PROXIES and
// hands PHP the client's address and HTTPS (so the session cookie is Secure behind Traefik).
$config['login_rate_limit'] = 5;
$config['session_lifetime'] = 30;
$config['ip_check'] = false;
$config['enable_installer'] = false;
$config['enable_spellcheck'] = false;

// A read-only root file system: temporary files in /tmp, logs to the container's stdout.
$config['temp_dir'] = '/tmp/roundcube';
$config['log_driver'] = 'stdout';
$config['log_logins'] = true;
$config['smtp_log'] = false;
