"""A real WordPress (Debian's package) for the connector tests: MariaDB unprivileged on a unix socket in a
temporary folder, WordPress served by PHP's built-in server on a free loopback port, installed by WordPress's own
installer with an administrator and an application password, and seeded through `wp_insert_post`.

Every seeded time is absolute (never relative to now), so what the tests expect does not depend on the hour they
run at; the site's UTC offset comes from BIZOSAAS_WP_GMT_OFFSET (default +9, so that site days and UTC days differ)
to prove it. `WordPressSite.php(...)` runs PHP inside the site, which is how tests ask WordPress what it holds.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

WORDPRESS = Path("/usr/share/wordpress")
ADMIN, ADMIN_PASSWORD = "admin", "admin-password-only-for-tests"
AUTHOR = "author"

# (key, type, status, title, modified_gmt): UTC times on both sides of UTC and site-day boundaries
SEED = (
    ("quotes", "post", "publish", 'Tom\'s "Q&A" <launch> & more', "2026-11-02T14:30:00"),
    ("late", "post", "publish", "Late & early", "2026-11-02T15:30:00"),
    ("before", "post", "publish", "Before the window", "2026-10-31T23:59:59"),
    ("draft", "post", "draft", "Draft & notes", "2026-11-03T23:59:30"),
    ("pending", "post", "pending", "Pending <review>", "2026-11-04T00:00:30"),
    ("private", "post", "private", 'Private "memo"', "2026-11-05T08:00:00"),
    ("future", "post", "future", "Scheduled post", "2026-11-06T12:00:00"),
    ("after", "post", "draft", "After the window", "2026-11-08T00:00:00"),
    ("about", "page", "publish", "About & contact", "2026-11-01T16:00:00"),
    ("pricing", "page", "draft", "Pricing 'beta'", "2026-11-04T10:00:00"),
    ("team", "page", "private", "Team <internal>", "2026-11-09T01:00:00"),
)
FUTURE_DATE_GMT = "2030-01-01T00:00:00"  # a scheduled post's publication date stays in the future

PHP_PRELUDE = """<?php
define('ABSPATH', {site!r} . '/');
$_SERVER['HTTP_HOST'] = {host!r};
$_SERVER['SERVER_NAME'] = '127.0.0.1';
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['REQUEST_METHOD'] = 'GET';
"""


def missing() -> str | None:
    """Why a real WordPress cannot run here (`make real-servers` installs what is missing), or None."""
    if not shutil.which("php"):
        return "php is not installed"
    if not (WORDPRESS / "wp-settings.php").is_file():
        return "the wordpress package is not installed"
    if not (shutil.which("mariadbd") or os.access("/usr/sbin/mariadbd", os.X_OK)):
        return "mariadbd is not installed"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(predicate, what: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start within {timeout:.0f} s")


@dataclass
class WordPressSite:
    root: Path
    port: int
    gmt_offset: int
    application_password: str = ""
    author_password: str = ""  # an author: may edit only their own posts, may not read others' drafts
    ids: dict[str, int] = field(default_factory=dict)
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def site(self) -> Path:
        return self.root / "site"

    def php(self, body: str, *, data=None, installing: bool = False) -> object:
        """Run PHP inside the site (WordPress loaded) and return what it printed as JSON. `data` reaches the script
        as `$data`."""
        script = PHP_PRELUDE.format(site=str(self.site), host=f"127.0.0.1:{self.port}")
        if installing:
            script += "define('WP_INSTALLING', true);\n"
        script += f"require ABSPATH . 'wp-load.php';\n$data = json_decode({json.dumps(json.dumps(data))}, true);\n"
        script += body
        path = self.root / "script.php"
        path.write_text(script)
        done = subprocess.run(["php", str(path)], capture_output=True, text=True, timeout=60, cwd=self.site)
        if done.returncode != 0:
            raise RuntimeError(f"php failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}")
        return json.loads(done.stdout)

    def posts(self, post_type: str) -> dict[str, dict]:
        """What WordPress holds now for every post of a type (trash and auto-drafts aside), by id."""
        return self.php(
            """
wp_set_current_user(get_user_by('login', 'admin')->ID);
$out = [];
foreach (get_posts(['post_type' => $data, 'post_status' => 'any', 'numberposts' => -1]) as $p) {
    $out[(string) $p->ID] = ['title' => $p->post_title,
        'rendered_title' => get_the_title($p), 'status' => $p->post_status,
        // drafts keep a zero post_modified_gmt; WordPress answers the site time converted, as here
        'modified_gmt' => $p->post_modified_gmt === '0000-00-00 00:00:00' ? get_gmt_from_date($p->post_modified)
            : $p->post_modified_gmt, 'link' => get_permalink($p), 'excerpt' => $p->post_excerpt,
        'content' => $p->post_content];
}
echo json_encode((object) $out);
""",
            data=post_type,
        )

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def start(gmt_offset: int | None = None) -> WordPressSite:
    if gmt_offset is None:
        gmt_offset = int(os.environ.get("BIZOSAAS_WP_GMT_OFFSET", "9"))
    root = Path(tempfile.mkdtemp(prefix="bizosaas-wp-"))
    wp = WordPressSite(root=root, port=_free_port(), gmt_offset=gmt_offset)
    try:
        _start_mariadb(wp)
        _prepare_site(wp)
        server = subprocess.Popen(
            ["php", "-S", f"127.0.0.1:{wp.port}", "-t", str(wp.site), str(root / "router.php")],
            cwd=wp.site,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PHP_CLI_SERVER_WORKERS": "4"},
        )
        wp.processes.append(server)
        _install(wp)
        _wait_for(lambda: _answers(wp.url + "/wp-json/"), "WordPress")
    except BaseException:
        wp.stop()
        raise
    return wp


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _start_mariadb(wp: WordPressSite) -> None:
    data, sock = wp.root / "mysql", wp.root / "mysql.sock"
    data.mkdir()
    user = ["--user=root"] if os.geteuid() == 0 else []
    mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    process = subprocess.Popen(
        [mariadbd, "--no-defaults", f"--datadir={data}", f"--socket={sock}", "--skip-networking",
         "--skip-grant-tables", f"--pid-file={wp.root / 'mysql.pid'}", "--innodb-buffer-pool-size=32M",
         "--innodb-flush-log-at-trx-commit=0", "--skip-log-bin", "--log-error=" + str(wp.root / "mysql.err"), *user],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wp.processes.append(process)
    _wait_for(lambda: sock.exists() or process.poll() is not None, "MariaDB")
    if process.poll() is not None:
        raise RuntimeError("MariaDB exited: " + (wp.root / "mysql.err").read_text()[-2000:])


def _prepare_site(wp: WordPressSite) -> None:
    """A folder that is WordPress (links to the package's files) with its own wp-config.php and wp-content."""
    site = wp.site
    site.mkdir()
    for entry in WORDPRESS.iterdir():
        if entry.name not in ("wp-config.php", "wp-content", ".htaccess"):
            (site / entry.name).symlink_to(entry)
    (site / "wp-content" / "uploads").mkdir(parents=True)
    (site / "wp-content" / "plugins").mkdir()
    (site / "wp-content" / "themes").mkdir()
    sock = wp.root / "mysql.sock"
    (site / "wp-config.php").write_text(
        f"""<?php
define('DB_NAME', 'wordpress');
define('DB_USER', 'root');
define('DB_PASSWORD', '');
define('DB_HOST', 'localhost:{sock}');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
define('WP_CONTENT_DIR', ABSPATH . 'wp-content');
define('WP_ENVIRONMENT_TYPE', 'local'); // application passwords over plain http
define('WP_HOME', 'http://127.0.0.1:{wp.port}');
define('WP_SITEURL', 'http://127.0.0.1:{wp.port}');
define('DISABLE_WP_CRON', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_HTTP_BLOCK_EXTERNAL', true);
foreach (['AUTH_KEY', 'SECURE_AUTH_KEY', 'LOGGED_IN_KEY', 'NONCE_KEY', 'AUTH_SALT', 'SECURE_AUTH_SALT',
          'LOGGED_IN_SALT', 'NONCE_SALT'] as $k) {{ define($k, 'bizosaas-tests-' . $k); }}
$table_prefix = 'wp_';
require_once ABSPATH . 'wp-settings.php';
"""
    )
    # every request is WordPress with this folder as ABSPATH (the package's files would find Debian's config)
    (wp.root / "router.php").write_text(
        f"""<?php
define('ABSPATH', {str(site)!r} . '/');
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
$file = ABSPATH . ltrim($path, '/');
if ($path !== '/' && is_file($file)) {{
    if (substr($file, -4) !== '.php') return false;
    chdir(dirname($file));
    require $file;
    return;
}}
$_SERVER['SCRIPT_NAME'] = '/index.php';
$_SERVER['PHP_SELF'] = '/index.php';
require ABSPATH . 'index.php';
"""
    )
    mysql = ["php", "-r", f"$m = new mysqli('localhost', 'root', '', '', 0, {str(sock)!r});"
             "$m->query('CREATE DATABASE wordpress CHARACTER SET utf8mb4') or exit(1);"]  # fmt: skip
    subprocess.run(mysql, check=True, timeout=30)


def _install(wp: WordPressSite) -> None:
    seed = [
        {"key": key, "type": kind, "status": status, "title": title, "modified_gmt": modified.replace("T", " ")}
        for key, kind, status, title, modified in SEED
    ]
    given = {
        "seed": seed,
        "admin": ADMIN,
        "author": AUTHOR,
        "password": ADMIN_PASSWORD,
        "offset": wp.gmt_offset,
        "future": FUTURE_DATE_GMT.replace("T", " "),
    }
    result = wp.php(
        """
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
wp_install('BizOSaaS test site', $data['admin'], 'admin@example.com', false, '', $data['password']);
update_option('gmt_offset', $data['offset']);
update_option('timezone_string', '');
update_option('permalink_structure', '/%postname%/');
flush_rewrite_rules(true);
$admin = get_user_by('login', $data['admin']);
wp_set_current_user($admin->ID);
$author = wp_insert_user(['user_login' => $data['author'], 'user_pass' => $data['password'], 'role' => 'author',
    'user_email' => 'author@example.com']);
list($password) = WP_Application_Passwords::create_new_application_password($admin->ID, ['name' => 'bizosaas']);
list($author_password) = WP_Application_Passwords::create_new_application_password($author, ['name' => 'b']);
foreach (get_posts(['post_type' => ['post', 'page'], 'post_status' => 'any', 'numberposts' => -1]) as $p) {
    wp_delete_post($p->ID, true);  // the installer's sample post and pages carry the time of the install
}
$offset = $data['offset'] * 3600;
$ids = [];
foreach ($data['seed'] as $s) {
    $gmt = $s['modified_gmt'];
    $date_gmt = $s['status'] === 'future' ? $data['future'] : $gmt;
    $id = wp_insert_post(['post_type' => $s['type'], 'post_status' => $s['status'], 'post_title' => $s['title'],
        'post_content' => 'Content of ' . $s['key'], 'post_excerpt' => 'About ' . $s['key'],
        'post_date' => gmdate('Y-m-d H:i:s', strtotime($date_gmt . ' UTC') + $offset), 'post_date_gmt' => $date_gmt,
        'post_name' => $s['key'], 'post_author' => $admin->ID], true);
    if (is_wp_error($id)) { fwrite(STDERR, $id->get_error_message()); exit(1); }
    // the last modification is the seeded one, not the moment the test session ran
    $GLOBALS['wpdb']->update($GLOBALS['wpdb']->posts, ['post_modified_gmt' => $gmt,
        'post_modified' => gmdate('Y-m-d H:i:s', strtotime($gmt . ' UTC') + $offset)], ['ID' => $id]);
    clean_post_cache($id);
    $ids[$s['key']] = $id;
}
echo json_encode(['password' => $password, 'author_password' => $author_password, 'ids' => $ids]);
""",
        data=given,
        installing=True,
    )
    wp.application_password = result["password"]
    wp.author_password = result["author_password"]
    wp.ids = result["ids"]
