# Shared by scripts/*: install what is missing, build. Sourced, not run.

BO1_APT_PACKAGES=(build-essential pkg-config meson ninja-build libmicrohttpd-dev libjansson-dev
  libcurl4-openssl-dev libhiredis-dev libuv1-dev check redis-server redis-tools curl python3)

# Install the Debian packages in "$@" that are not installed yet (one apt-get call).
bo1_apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# bo1_build DIR [meson options...]: configure once, then rebuild incrementally.
bo1_build() {
  local dir=$1
  shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >&2
  fi
  ninja -C "$dir" >&2
}

# A TCP port on 127.0.0.1 that is free right now.
bo1_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
