#!/usr/bin/env bash
# Installs the Debian packages the sandbox and the tests run for real: nginx, sshd,
# curl (what an API host answers LOCAL is asked with curl, as on a real host), and Debian's
# AWS CLI (the README's `aws ... --endpoint-url` commands are tested against the sandbox).
# As root it installs what is missing; otherwise it prints the exact command to run.
set -euo pipefail
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v curl >/dev/null 2>&1 || need+=(curl)
[ -x /usr/bin/aws ] || need+=(awscli)
[ ${#need[@]} -eq 0 ] && exit 0
cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${need[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing Debian packages: ${need[*]}. Run as root:" >&2
  echo "  sudo sh -c '$cmd'" >&2
  exit 1
fi
echo "Installing ${need[*]} from Debian ..."
# Never start the distribution's own services: the sandbox runs its own instances.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; made_policy=1
fi
trap '[ "$made_policy" = 1 ] && rm -f "$policy"' EXIT
sh -c "$cmd" >/dev/null
