# `scripts/demo --ha`: the lab's bastion as three nodes on one PostgreSQL database (a
# private cluster in target/lab/pg, never the system one). Node a is the usual bastion
# (target/lab/oobgate.toml, also reachable as bastion-a.toml); nodes b and c get
# bastion-b.toml and bastion-c.toml, differing only in listen, data_dir, recording_dir,
# the web console's port and [node] name, with node a's CA keys copied in before their
# first start. Recordings and console logs go to a SeaweedFS object store (target/lab/s3,
# S3 on 127.0.0.1:PORT+110, bucket `oobgate`), so any node replays any session. Sourced by
# scripts/demo, which sets LAB, PORT, BIN and wait_port.

HA_PG_PORT=$((PORT + 97))
HA_S3_PORT=$((PORT + 110))   # and the next seven ports: SeaweedFS's master, volume, filer

stop_ha_store() {
  [[ -f "$LAB/pg/data/postmaster.pid" ]] || return 0
  OOBGATE_PG_BIN=$(_pg_bin_dir) || return 0
  pg_run pg_ctl -D "$LAB/pg/data" -m fast stop >/dev/null 2>&1 || true
}

start_ha_store() {
  mkdir -p "$LAB/pg"
  chmod 755 "$LAB/pg"; chmod o+x "$OOBGATE_ROOT/target" "$LAB"
  [[ $(id -u) -ne 0 ]] || chown postgres:postgres "$LAB/pg"
  if [[ ! -f "$LAB/pg/data/PG_VERSION" ]]; then
    pg_run initdb -A trust -U oob -E UTF8 -D "$LAB/pg/data" >"$LAB/pg-initdb.log" 2>&1 \
      || { echo "initdb failed (see $LAB/pg-initdb.log)" >&2; return 1; }
  fi
  pg_run pg_ctl -D "$LAB/pg/data" -w -l "$LAB/pg/log" \
    -o "-p $HA_PG_PORT -k $LAB/pg -c listen_addresses=127.0.0.1" start >/dev/null \
    || { echo "PostgreSQL did not start (see $LAB/pg/log)" >&2; return 1; }
  pg_run createdb -h 127.0.0.1 -p "$HA_PG_PORT" -U oob oobgate 2>/dev/null || true
  cat >> "$LAB/oobgate.toml" <<CFG

[store]
postgres = "postgres://oob@127.0.0.1:$HA_PG_PORT/oobgate"

[node]
name = "bastion-a"
CFG
  ln -sf oobgate.toml "$LAB/bastion-a.toml"
}

# Nodes b and c, once node a has made the CA keys.
start_ha_nodes() {
  cp "$LAB/oobgate.pid" "$LAB/bastion-a.pid"
  local n i=0 port web dir
  for n in b c; do
    i=$((i + 1))
    port=$((PORT + 100 + i)) web=$((PORT + 102 + i)) dir="$LAB/data-$n"
    mkdir -p "$dir"; chmod 700 "$dir"
    for k in host_ca host_ca.pub user_ca user_ca.pub; do
      [[ -f "$dir/$k" ]] || cp -p "$LAB/data/$k" "$dir/$k"
    done
    sed -e "s|^listen = \"127.0.0.1:$PORT\"|listen = \"127.0.0.1:$port\"|" \
        -e "s|^data_dir = \"data\"|data_dir = \"data-$n\"|" \
        -e "s|^recording_dir = \"recordings\"|recording_dir = \"recordings-$n\"|" \
        -e "s|^listen = \"127.0.0.1:$WEB_PORT\"|listen = \"127.0.0.1:$web\"|" \
        -e "s|^name = \"bastion-a\"|name = \"bastion-$n\"|" \
        "$LAB/oobgate.toml" > "$LAB/bastion-$n.toml"
    nohup "$BIN" serve --config "$LAB/bastion-$n.toml" >"$LAB/bastion-$n.log" 2>&1 &
    echo $! > "$LAB/bastion-$n.pid"
    wait_port "$port" "$LAB/bastion-$n.pid" "node bastion-$n" "$LAB/bastion-$n.log" || return 1
  done
  cat >> "$LAB/ssh_config" <<SSH

Host bastion-a
  HostName 127.0.0.1
  Port $PORT
Host bastion-b
  HostName 127.0.0.1
  Port $((PORT + 101))
Host bastion-c
  HostName 127.0.0.1
  Port $((PORT + 102))
SSH
}

# SeaweedFS (S3 API) for the nodes' recordings, and the [recording.s3] table.
start_ha_objects() {
  mkdir -p "$LAB/s3/data"
  local p=$HA_S3_PORT
  nohup "$OOBGATE_ROOT/target/peers/venv/bin/weed" server -dir="$LAB/s3/data" \
    -ip=127.0.0.1 -ip.bind=127.0.0.1 -s3 -s3.port=$p \
    -master.port=$((p + 1)) -master.port.grpc=$((p + 2)) \
    -volume.port=$((p + 3)) -volume.port.grpc=$((p + 4)) \
    -filer.port=$((p + 5)) -filer.port.grpc=$((p + 6)) -s3.port.grpc=$((p + 7)) \
    -s3.port.iceberg=0 -s3.port.lance=0 -master.telemetry=false -volume.max=20 \
    >"$LAB/s3/log" 2>&1 &
  echo $! > "$LAB/seaweedfs.pid"
  local i
  for i in $(seq 120); do
    curl -sf -o /dev/null -m 2 -X PUT "http://127.0.0.1:$p/oobgate" && break
    kill -0 "$(cat "$LAB/seaweedfs.pid")" 2>/dev/null \
      || { echo "SeaweedFS exited (see $LAB/s3/log)" >&2; return 1; }
    [[ $i == 120 ]] && { echo "SeaweedFS did not answer in 60s (see $LAB/s3/log)" >&2; return 1; }
    sleep 0.5
  done
  # SeaweedFS without identities takes any key; the bastion still needs one to sign with.
  printf 'access_key_id = "lab"\nsecret_access_key = "lab-secret"\n' > "$LAB/s3.toml"
  chmod 600 "$LAB/s3.toml"
  cat >> "$LAB/oobgate.toml" <<CFG

[recording.s3]
endpoint = "http://127.0.0.1:$p"
bucket = "oobgate"
prefix = "lab/"
credentials_file = "s3.toml"
part_interval = "2s"
CFG
}
