#!/bin/sh
# Install a new nginx config file without ever leaving nginx on a broken one.
#
# Usage: deliver.sh TARGET_PATH RELOAD_COMMAND [TEST_COMMAND] < new.conf
#   TARGET_PATH     absolute path of the file nginx includes, e.g. /etc/nginx/conf.d/academy-api.conf
#   RELOAD_COMMAND  e.g. "systemctl reload nginx"; sandbox: "nginx -s reload -c /abs/nginx.conf"
#   TEST_COMMAND    default "nginx -t"; sandbox: "nginx -t -c /abs/nginx.conf"
# The new config comes on stdin (the SSM document pipes in its base64-decoded copy).
#
# Steps: same bytes already in place -> exit 0, no reload. Otherwise test the new file on its
# own first, still at its temporary path: `nginx -t` on a throwaway main conf (private prefix,
# pid, error log and temp paths; `http { include NEW; }`), so a broken file is refused before it
# ever replaces the old one. Then keep a copy of the previous file, move the new one into place
# (rename in the same directory: atomic), run TEST_COMMAND (only the whole config can reveal a
# conflict with the host's other files; the running nginx reads nothing until the reload), then
# RELOAD_COMMAND. If either fails, the previous file goes back (or the new one is removed when
# there was none), nginx is reloaded back if a reload was tried, and the script exits non-zero
# with the reason on stderr.
#
# Exit codes: 0 installed or unchanged; 1 refused by nginx -t on its own (nothing moved) or by
# TEST_COMMAND (previous file restored); 2 bad usage or input; 3 reload failed (previous file
# restored); 4 the restore itself failed.
set -u

prog=deliver.sh
say() { printf '%s: %s\n' "$prog" "$*"; }
die() {
    code=$1
    shift
    printf '%s: %s\n' "$prog" "$*" >&2
    exit "$code"
}

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    die 2 "usage: $prog TARGET_PATH RELOAD_COMMAND [TEST_COMMAND] < new.conf"
fi
target=$1
reload_cmd=$2
test_cmd=${3:-nginx -t}

case $target in
/*) ;;
*) die 2 "TARGET_PATH must be an absolute path, got '$target'" ;;
esac
[ -n "$reload_cmd" ] || die 2 "RELOAD_COMMAND is empty; pass e.g. 'systemctl reload nginx'"
[ -n "$test_cmd" ] || die 2 "TEST_COMMAND is empty; leave it out to use 'nginx -t'"
dir=$(dirname -- "$target")
base=$(basename -- "$target")
[ -d "$dir" ] || die 2 "directory $dir does not exist; create it or fix TARGET_PATH"
[ -d "$target" ] && die 2 "TARGET_PATH $target is a directory; give the config file's path"
[ -L "$target" ] && die 2 "TARGET_PATH $target is a symlink; give the real file's path"
[ -t 0 ] && die 2 "the new config is read from stdin; pipe it in: $prog $target ... < new.conf"

new=""
previous=""
check_dir=""
cleanup() {
    [ -n "$new" ] && rm -f -- "$new"
    [ -n "$previous" ] && rm -f -- "$previous"
    [ -n "$check_dir" ] && rm -rf -- "$check_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Dot-prefixed and without the .conf suffix, so an `include conf.d/*.conf` never picks it up.
new=$(mktemp "$dir/.$base.new.XXXXXX") || die 2 "cannot create a temporary file in $dir"
cat >"$new" || die 2 "could not read the new config from stdin"
[ -s "$new" ] || die 2 "the new config on stdin is empty; nothing installed"
chmod 0644 "$new" || die 2 "cannot set the mode of $new"
new_sha=$(sha256sum "$new" | cut -d ' ' -f 1)

if [ -f "$target" ] && cmp -s "$new" "$target"; then
    say "$target unchanged (sha256 $new_sha); no reload needed"
    exit 0
fi

show() { [ -n "$1" ] && printf '%s\n' "$1" >&2; }

# The first test: the new file alone, inside a main conf of our own, before anything is moved.
nginx_bin=$(command -v nginx 2>/dev/null) || nginx_bin=""
if [ -z "$nginx_bin" ] && [ -x /usr/sbin/nginx ]; then
    nginx_bin=/usr/sbin/nginx
fi
[ -n "$nginx_bin" ] || die 2 "nginx not found (PATH, /usr/sbin/nginx); install it; nothing installed"
check_dir=$(mktemp -d) || die 2 "cannot create a temporary directory to test the new config in"
cat >"$check_dir/nginx.conf" <<EOF || die 2 "cannot write the test config in $check_dir"
pid $check_dir/nginx.pid;
error_log $check_dir/error.log;
events {}
http {
    client_body_temp_path $check_dir/client_body;
    proxy_temp_path $check_dir/proxy;
    fastcgi_temp_path $check_dir/fastcgi;
    uwsgi_temp_path $check_dir/uwsgi;
    scgi_temp_path $check_dir/scgi;
    include "$new";
}
EOF
if ! alone_out=$("$nginx_bin" -t -q -p "$check_dir" -c "$check_dir/nginx.conf" \
    -e "$check_dir/error.log" 2>&1); then
    show "$alone_out"
    untouched="$target was not created"
    [ -e "$target" ] && untouched="$target was not touched"
    die 1 "nginx -t refused the new config (sha256 $new_sha) on its own, at its temporary path" \
        "$new, before any move; $untouched and nginx was not reloaded"
fi
rm -rf -- "$check_dir"
check_dir=""

had_previous=0
if [ -e "$target" ]; then
    previous=$(mktemp "$dir/.$base.previous.XXXXXX") || die 2 "cannot create a backup in $dir"
    cp -p -- "$target" "$previous" || die 2 "cannot copy $target to $previous"
    had_previous=1
fi

restore() {
    if [ "$had_previous" = 1 ]; then
        mv -f -- "$previous" "$target" && previous=""
    else
        rm -f -- "$target"
    fi
}
if [ "$had_previous" = 1 ]; then
    as_before="the previous $target is back in place"
else
    as_before="$target is removed again (there was none before)"
fi

mv -f -- "$new" "$target" || die 2 "cannot move the new config into $target"
new=""

if ! test_out=$(sh -c "$test_cmd" 2>&1); then
    show "$test_out"
    restore || die 4 "'$test_cmd' refused the new config AND restoring $target failed; fix it by hand"
    die 1 "'$test_cmd' refused the new config (sha256 $new_sha); $as_before; nginx was not reloaded"
fi

if ! reload_out=$(sh -c "$reload_cmd" 2>&1); then
    show "$reload_out"
    restore || die 4 "'$reload_cmd' failed AND restoring $target failed; fix it by hand"
    if back_out=$(sh -c "$reload_cmd" 2>&1); then
        back="nginx was reloaded with the previous config"
    else
        show "$back_out"
        back="reloading the previous config failed too"
    fi
    die 3 "'$reload_cmd' failed; $as_before; $back"
fi

say "installed $target (sha256 $new_sha) and reloaded nginx"
