#!/usr/bin/env bash
# A 3-node MariaDB Galera Cluster on loopback, for trying the service on a cluster and for
# the suite's `galera` tests. Debian's packages only: mariadb-server, galera-4, rsync.
#
#   scripts/galera-cluster.sh start          bootstrap node 1 (or join what runs), start the
#                                            rest, wait until every node is Synced
#   scripts/galera-cluster.sh stop           stop every node cleanly (3, 2, then 1)
#   scripts/galera-cluster.sh status         each node's port, pid, state and cluster size
#   scripts/galera-cluster.sh kill-node N    SIGKILL node N (a crash, not a shutdown)
#   scripts/galera-cluster.sh start-node N   start node N, joining the others; wait until Synced
#   scripts/galera-cluster.sh stop-node N    stop node N cleanly (the others go on)
#   scripts/galera-cluster.sh destroy        stop every node and delete the base directory
#   scripts/galera-cluster.sh url N [DB]     the SQLAlchemy URL of node N (root, no password; DB "" for none)
#
# Settings (environment):
#   GALERA_DIR          base directory, one subdirectory per node (default /tmp/messaging-galera;
#                       outside the repository, readable by the mysql user)
#   GALERA_PORT_OFFSET  added to every port below (default 20000)
#   GALERA_WAIT         seconds to wait for a node to be Synced (default 180)
#
# Node N (1..3) listens on 127.0.0.1 only, every port below 32768 (the kernel's ephemeral
# range starts there: TIME_WAIT sockets of a busy machine would make a port in it fail to
# bind at random). With the default offset:
#   MySQL 23306 + N - 1    Galera replication 24567 + 10 (N - 1)
#   IST   24568 + 10 (N-1) rsync SST 24444 + 10 (N - 1)
# The machine's own MariaDB (3306, /etc/mysql) is not touched: every node reads only its own
# configuration file (--defaults-file).
#
# Node loss is noticed within about 2 s (evs.suspect_timeout=PT2S with 0.5 s keepalives,
# instead of Galera's 5 s suspect timeout plus its 1 s checks): for that long after a node
# dies, commits on the others wait. Shorter risks dropping a node that is only starved of
# CPU on a loaded machine.
set -euo pipefail

NODES=(1 2 3)
BASE=${GALERA_DIR:-/tmp/messaging-galera}
OFFSET=${GALERA_PORT_OFFSET:-20000}
WAIT_SECONDS=${GALERA_WAIT:-180}
PROVIDER=/usr/lib/galera/libgalera_smm.so
CLUSTER_NAME=messaging
SUSPECT_OPTIONS="evs.keepalive_period=PT0.5S; evs.inactive_check_period=PT0.5S; \
evs.suspect_timeout=PT2S; evs.inactive_timeout=PT4S; evs.install_timeout=PT4S"

die() {
    echo "galera-cluster: $*" >&2
    exit 1
}

mysql_port() { echo $((3305 + $1 + OFFSET)); }
gcomm_port() { echo $((4567 + 10 * ($1 - 1) + OFFSET)); }
ist_port() { echo $((4568 + 10 * ($1 - 1) + OFFSET)); }
sst_port() { echo $((4444 + 10 * ($1 - 1) + OFFSET)); }
node_dir() { echo "$BASE/node$1"; }
pid_file() { echo "$(node_dir "$1")/mariadbd.pid"; }
socket_path() { echo "$(node_dir "$1")/mariadbd.sock"; }

check_node_number() {
    [[ ${1:-} =~ ^[1-3]$ ]] || die "node number must be 1, 2 or 3, not '${1:-}'"
}

check_installed() {
    [[ -f $PROVIDER ]] || die "$PROVIDER is missing: apt-get install galera-4"
    command -v rsync >/dev/null || die "rsync is missing (state transfers use it): apt-get install rsync"
    command -v mariadbd >/dev/null || [[ -x /usr/sbin/mariadbd ]] ||
        die "mariadbd is missing: apt-get install mariadb-server"
}

# Servers run as the mysql user when started by root: rsync state transfers refuse root.
server_user() {
    if [[ $(id -u) -eq 0 ]]; then echo mysql; else id -un; fi
}

node_pid() {
    local file
    file=$(pid_file "$1")
    [[ -s $file ]] || return 1
    local pid
    pid=$(<"$file")
    kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

is_running() { node_pid "$1" >/dev/null; }

node_sql() {
    local node=$1
    shift
    mariadb --no-defaults --protocol=socket -S "$(socket_path "$node")" -uroot -N -B \
        --connect-timeout=2 -e "$@" 2>/dev/null
}

node_status() { node_sql "$1" "SHOW GLOBAL STATUS LIKE '$2'" | cut -f2; }

cluster_address() {
    local addresses=()
    for node in "${NODES[@]}"; do addresses+=("127.0.0.1:$(gcomm_port "$node")"); done
    local IFS=,
    echo "gcomm://${addresses[*]}"
}

write_config() {
    local node=$1 dir
    dir=$(node_dir "$node")
    cat >"$dir/my.cnf" <<EOF
# Written by scripts/galera-cluster.sh: node $node of a loopback Galera cluster.
[mariadbd]
user = $(server_user)
datadir = $dir/data
socket = $(socket_path "$node")
pid-file = $(pid_file "$node")
log-error = $dir/error.log
bind-address = 127.0.0.1
port = $(mysql_port "$node")
skip-name-resolve
character-set-server = utf8mb4
collation-server = utf8mb4_unicode_ci
# Small: three nodes share a machine with everything else.
performance_schema = OFF
innodb_buffer_pool_size = 64M
innodb_log_file_size = 32M
max_connections = 200
# Galera's requirements, and what it recommends.
binlog_format = ROW
default_storage_engine = InnoDB
innodb_autoinc_lock_mode = 2
# A commit is durable on the other nodes once certified; the log is flushed once a second.
innodb_flush_log_at_trx_commit = 2
wsrep_on = ON
wsrep_provider = $PROVIDER
wsrep_cluster_name = $CLUSTER_NAME
wsrep_cluster_address = $(cluster_address)
wsrep_node_name = node$node
wsrep_node_address = 127.0.0.1:$(gcomm_port "$node")
wsrep_node_incoming_address = 127.0.0.1:$(mysql_port "$node")
wsrep_slave_threads = 2
wsrep_sst_method = rsync
wsrep_sst_receive_address = 127.0.0.1:$(sst_port "$node")
wsrep_provider_options = "gmcast.listen_addr=tcp://127.0.0.1:$(gcomm_port "$node"); ist.recv_addr=127.0.0.1:$(ist_port "$node"); gcache.size=64M; $SUSPECT_OPTIONS"
EOF
}

# Node 1's datadir is made by mariadb-install-db; the others arrive empty and are filled by
# a state transfer when they join.
prepare_node() {
    local node=$1 dir
    dir=$(node_dir "$node")
    mkdir -p "$dir/data"
    chmod 755 "$BASE" "$dir"
    write_config "$node"
    if [[ $node -eq 1 && ! -d $dir/data/mysql ]]; then
        echo "node 1: creating its data directory"
        mariadb-install-db --no-defaults --user="$(server_user)" --datadir="$dir/data" \
            --auth-root-authentication-method=normal --skip-test-db \
            >"$dir/install.log" 2>&1 || die "mariadb-install-db failed; see $dir/install.log"
    fi
    if [[ $(id -u) -eq 0 ]]; then chown -R mysql:mysql "$dir"; fi
}

# Whole-cluster restart from existing data: Galera only bootstraps from a node that says it
# is safe (the last one to stop cleanly). If none says so (a crash), node 1 is chosen.
choose_bootstrap_node() {
    for node in "${NODES[@]}"; do
        if grep -qs '^safe_to_bootstrap: 1' "$(node_dir "$node")/data/grastate.dat"; then
            echo "$node"
            return
        fi
    done
    local grastate
    grastate="$(node_dir 1)/data/grastate.dat"
    if [[ -f $grastate ]]; then sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' "$grastate"; fi
    echo 1
}

launch_node() {
    local node=$1 bootstrap=${2:-} dir
    dir=$(node_dir "$node")
    is_running "$node" && return 0
    prepare_node "$node"
    rm -f "$(socket_path "$node")"
    local args=("--defaults-file=$dir/my.cnf")
    if [[ -n $bootstrap ]]; then args+=(--wsrep-new-cluster); fi
    echo "node $node: starting${bootstrap:+ (new cluster)} on port $(mysql_port "$node")"
    setsid /usr/sbin/mariadbd "${args[@]}" >>"$dir/console.log" 2>&1 </dev/null &
}

wait_synced() {
    local node=$1 deadline=$((SECONDS + WAIT_SECONDS)) state=""
    while ((SECONDS < deadline)); do
        state=$(node_status "$node" wsrep_local_state_comment || true)
        if [[ $state == Synced ]]; then
            echo "node $node: Synced (cluster size $(node_status "$node" wsrep_cluster_size))"
            return 0
        fi
        # A server that exited leaves no pid file behind.
        if [[ ! -s $(pid_file "$node") ]] && ! pgrep -f -- "--defaults-file=$(node_dir "$node")/my.cnf" >/dev/null; then
            if ((deadline - SECONDS < WAIT_SECONDS - 5)); then
                tail -n 30 "$(node_dir "$node")/error.log" >&2 || true
                die "node $node exited while starting; see $(node_dir "$node")/error.log"
            fi
        fi
        sleep 0.5
    done
    tail -n 30 "$(node_dir "$node")/error.log" >&2 || true
    die "node $node is not Synced after ${WAIT_SECONDS} s (state: '${state:-no answer}')"
}

start_node() {
    local node=$1 bootstrap=${2:-}
    if is_running "$node"; then
        wait_synced "$node"
        return
    fi
    launch_node "$node" "$bootstrap"
    wait_synced "$node"
}

start_cluster() {
    check_installed
    mkdir -p "$BASE"
    local running=()
    for node in "${NODES[@]}"; do
        if is_running "$node"; then running+=("$node"); fi
    done
    if ((${#running[@]} == 0)); then
        start_node "$(choose_bootstrap_node)" new
    fi
    for node in "${NODES[@]}"; do start_node "$node"; done
}

stop_node() {
    local node=$1 pid
    pid=$(node_pid "$node") || return 0
    echo "node $node: stopping (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 240); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.25
    done
    echo "node $node: still running after 60 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
}

stop_cluster() {
    # In reverse, so node 1 stops last and may bootstrap the next start.
    for node in 3 2 1; do stop_node "$node"; done
}

kill_node() {
    local node=$1 pid
    pid=$(node_pid "$node") || die "node $node is not running"
    echo "node $node: SIGKILL (pid $pid)"
    kill -KILL "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}

show_status() {
    printf '%-5s %-6s %-8s %-10s %s\n' NODE PORT PID STATE CLUSTER_SIZE
    for node in "${NODES[@]}"; do
        local pid state size
        if pid=$(node_pid "$node"); then
            state=$(node_status "$node" wsrep_local_state_comment || true)
            size=$(node_status "$node" wsrep_cluster_size || true)
        else
            pid=- state=stopped size=-
        fi
        printf '%-5s %-6s %-8s %-10s %s\n' "$node" "$(mysql_port "$node")" "$pid" \
            "${state:-starting}" "${size:--}"
    done
}

command=${1:-}
case $command in
start) start_cluster ;;
stop) stop_cluster ;;
status) show_status ;;
kill-node)
    check_node_number "${2:-}"
    kill_node "$2"
    ;;
start-node)
    check_node_number "${2:-}"
    check_installed
    any_running=""
    for node in "${NODES[@]}"; do if is_running "$node"; then any_running=yes; fi; done
    [[ -n $any_running ]] || die "no node runs, so there is no cluster to join: use start"
    start_node "$2"
    ;;
stop-node)
    check_node_number "${2:-}"
    stop_node "$2"
    ;;
destroy)
    stop_cluster
    rm -rf "$BASE"
    ;;
url)
    check_node_number "${2:-}"
    echo "mysql+pymysql://root@127.0.0.1:$(mysql_port "$2")/${3-messaging}"
    ;;
*)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
