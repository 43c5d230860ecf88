# deployer facts probe: POSIX sh, no Python needed on the host.
# Usage: sh -c "$(cat probe.sh)" deployer-probe [--skip SECTION]... [PATH]...
# Every section prints between @@deployer-facts:begin:NAME@@ and
# @@deployer-facts:end:NAME:RC@@; a section that fails only ends with a
# non-zero RC, the next one still runs. Each external tool is bounded by
# timeout(1) when the host has it, so one hung driver cannot stall a fleet.
exec </dev/null
LC_ALL=C
LANG=C
export LC_ALL LANG
PATH="$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_skip=" "
while [ "$#" -gt 0 ]; do
    case "$1" in
        --skip) _skip="$_skip$2 "; shift 2 ;;
        --) shift; break ;;
        *) break ;;
    esac
done

# seconds any one tool may take; DEPLOYER_FACTS_TOOL_TIMEOUT overrides it
_tt=${DEPLOYER_FACTS_TOOL_TIMEOUT:-10}
# coreutils and recent busybox: TERM, then KILL 2 s later; older busybox: TERM only
_timeout=
if timeout -k 2 5 true >/dev/null 2>&1; then
    _timeout="timeout -k 2"
elif timeout 5 true >/dev/null 2>&1; then
    _timeout=timeout
fi

# _t SECONDS CMD ARGS...: run CMD, killed after SECONDS where timeout(1) exists
_t() {
    _secs=$1
    shift
    if [ -n "$_timeout" ]; then
        $_timeout "$_secs" "$@"
    else
        "$@"
    fi
}

_have() { command -v "$1" >/dev/null 2>&1; }

# asked once: sudo -n leaves a line in the host's auth log each time
_sudo=no
if [ "$(id -u)" = 0 ]; then
    _sudo=root
elif _have sudo && _t "$_tt" sudo -n true >/dev/null 2>&1; then
    _sudo=yes
fi

# _section NAME FUNCTION [ARGS...]: run FUNCTION in a subshell between markers
_section() {
    _name=$1
    _fn=$2
    shift 2
    case "$_skip" in *" $_name "*) return 0 ;; esac
    printf '\n@@deployer-facts:begin:%s@@\n' "$_name"
    ("$_fn" "$@") 2>/dev/null
    printf '\n@@deployer-facts:end:%s:%s@@\n' "$_name" "$?"
}

s_host() {
    echo "hostname=$(uname -n)"
    echo "machine=$(uname -m)"
    echo "kernel=$(uname -r)"
    echo "user=$(id -un)"
    echo "uid=$(id -u)"
    echo "home=$HOME"
    _have nproc && echo "nproc=$(nproc)"
    return 0
}

s_os_release() {
    if [ -r /etc/os-release ]; then
        cat /etc/os-release
    else
        cat /usr/lib/os-release
    fi
}

s_lscpu() {
    _have lscpu || return 0
    _t "$_tt" lscpu
}

# Only when lscpu is missing (minimal containers): the first processor block
# plus counts computed here, so a 640-CPU host does not send 640 blocks.
s_cpuinfo() {
    _have lscpu && return 0
    awk -F: '
        /^processor/ { n++ }
        /^physical id/ { sock[$2] = 1; phys = $2 }
        /^core id/ { core[phys "/" $2] = 1 }
        n == 1 { print }
        END {
            s = 0; for (k in sock) s++
            c = 0; for (k in core) c++
            print "deployer_processors=" n
            print "deployer_sockets=" s
            print "deployer_cores=" c
        }' /proc/cpuinfo
}

s_numa() {
    for d in /sys/devices/system/node/node[0-9]*; do
        [ -d "$d" ] || continue
        kb=$(awk '/MemTotal/ { print $4 }' "$d/meminfo" 2>/dev/null)
        echo "${d##*/node} $(cat "$d/cpulist") ${kb:-?}"
    done
}

s_meminfo() {
    cat /proc/meminfo
}

# The login shell's cgroup and every ancestor: a limit set on a parent
# (a Slurm job, a systemd slice) binds the shell as much as its own.
s_cgroup() {
    cat /proc/self/cgroup | while IFS=: read -r _id _ctrl _path; do
        echo "cgroup $_id:$_ctrl:$_path"
        case "$_ctrl" in
            "") bases=/sys/fs/cgroup; files="memory.max cpu.max" ;;
            *memory*) bases=/sys/fs/cgroup/memory; files=memory.limit_in_bytes ;;
            *cpu,*|*cpu) bases="/sys/fs/cgroup/cpu /sys/fs/cgroup/cpu,cpuacct /sys/fs/cgroup/cpuacct,cpu"
                files="cpu.cfs_quota_us cpu.cfs_period_us" ;;
            *) continue ;;
        esac
        for base in $bases; do
            [ -d "$base" ] || continue
            p=$_path
            while :; do
                d=$base${p%/}
                for f in $files; do
                    [ -r "$d/$f" ] && echo "file $d/$f $(cat "$d/$f")"
                done
                [ -z "$p" ] || [ "$p" = / ] && break
                p=${p%/*}
            done
        done
    done
}

s_dmidecode() {
    _have dmidecode || return 0
    case "$_sudo" in
        root) _t "$_tt" dmidecode -t 17 ;;
        yes) _t "$_tt" sudo -n dmidecode -t 17 ;;
    esac
}

s_nvidia() {
    _have nvidia-smi || return 0
    fields=index,name,uuid,memory.total,memory.free,memory.used,driver_version,compute_cap,utilization.gpu
    out=$(_t "$_tt" nvidia-smi --query-gpu=$fields --format=csv,nounits 2>&1)
    rc=$?
    case "$out" in
        *"not a valid field"*)
            # drivers before compute_cap existed refuse the whole query
            out=$(_t "$_tt" nvidia-smi --query-gpu=index,name,uuid,memory.total,memory.free,memory.used,driver_version,utilization.gpu --format=csv,nounits 2>&1)
            rc=$? ;;
    esac
    printf '%s\n' "$out"
    return $rc
}

s_nvidia_header() {
    _have nvidia-smi || return 0
    _t "$_tt" nvidia-smi 2>&1 | grep -m 1 'Driver Version'
}

s_rocm() {
    _have rocm-smi || return 0
    _t "$_tt" rocm-smi --showproductname --showmeminfo vram --json
}

s_rocm_version() {
    for f in /opt/rocm/.info/version /opt/rocm/.info/version-dev; do
        [ -r "$f" ] && { head -n 1 "$f"; return 0; }
    done
    return 0
}

# GPUs as the kernel sees them: AMD cards without rocm-smi, and NVIDIA cards
# whose nvidia-smi is missing (a driver problem worth reporting).
s_drm() {
    for d in /sys/class/drm/card[0-9]*; do
        case "${d##*/}" in *-*) continue ;; esac
        [ -r "$d/device/vendor" ] || continue
        line="card=${d##*/card} vendor=$(cat "$d/device/vendor") device=$(cat "$d/device/device" 2>/dev/null)"
        [ -r "$d/device/mem_info_vram_total" ] && line="$line vram_total=$(cat "$d/device/mem_info_vram_total")"
        [ -r "$d/device/mem_info_vram_used" ] && line="$line vram_used=$(cat "$d/device/mem_info_vram_used")"
        [ -r "$d/device/product_name" ] && line="$line name=$(cat "$d/device/product_name")"
        echo "$line"
    done
}

s_disks() {
    for p in "$@" "$HOME" /tmp; do
        asked=$p
        case "$p" in "~") p=$HOME ;; "~/"*) p="$HOME/${p#\~/}" ;; esac
        [ -z "$p" ] && continue
        # a directory that does not exist yet will live on its nearest parent
        while [ ! -e "$p" ] && [ "$p" != / ]; do
            p=$(dirname "$p")
        done
        printf '@path\t%s\t%s\n' "$asked" "$p"
        _t "$_tt" df -P -B1 "$p" 2>/dev/null || _t "$_tt" df -P "$p" 2>/dev/null \
            || echo "statfs $(_t "$_tt" stat -f -c '%S %b %a' "$p")"
    done
}

s_glibc() {
    _have ldd && ldd --version 2>&1 | head -n 2
    _have getconf && echo "getconf $(getconf GNU_LIBC_VERSION 2>&1)"
    return 0
}

s_systemd() {
    [ -d /run/systemd/system ] && echo "run_systemd=yes"
    _have systemctl && echo "state=$(_t "$_tt" systemctl is-system-running 2>&1)"
    return 0
}

s_docker() {
    _have docker || return 0
    echo "path=$(command -v docker)"
    echo "client=$(_t "$_tt" docker --version 2>&1)"
    out=$(_t "$_tt" docker info --format '{{.ServerVersion}}' 2>&1)
    rc=$?
    echo "info_rc=$rc"
    printf '%s\n' "$out" | sed 's/^/info=/' | head -n 3
}

s_ollama() {
    _have ollama || return 0
    echo "path=$(command -v ollama)"
    _t "$_tt" ollama -v 2>&1 | sed 's/^/version=/'
    echo "@list"
    _t "$_tt" ollama list 2>&1
}

s_sudo() {
    echo "sudo=$_sudo"
}

s_env() {
    env | grep -E '^(HTTPS?_PROXY|https?_proxy|NO_PROXY|no_proxy|ALL_PROXY|all_proxy|SLURM_[A-Za-z0-9_]*|CUDA_VISIBLE_DEVICES|ROCR_VISIBLE_DEVICES|HIP_VISIBLE_DEVICES)='
    return 0
}

_section host s_host
_section os-release s_os_release
_section lscpu s_lscpu
_section cpuinfo s_cpuinfo
_section numa s_numa
_section meminfo s_meminfo
_section cgroup s_cgroup
_section dmidecode s_dmidecode
_section nvidia s_nvidia
_section nvidia-header s_nvidia_header
_section rocm s_rocm
_section rocm-version s_rocm_version
_section drm s_drm
_section disks s_disks "$@"
_section glibc s_glibc
_section systemd s_systemd
_section docker s_docker
_section ollama s_ollama
_section sudo s_sudo
_section env s_env
printf '\n@@deployer-facts:done@@\n'
