# srv20 of the demo lab: a Redfish BMC (sushy-emulator with its fake driver, TLS with a lab
# certificate, basic auth from a bcrypt htpasswd file, its password only in OpenBao) and a
# loopback file server for ISO and firmware URLs (`[media] allowed_urls`). Sourced by
# scripts/demo, which sets LAB, SRV20_PORT, FILES_PORT, BAO_PORT and wait_port.

start_redfish() {
  local py="$OOBGATE_ROOT/target/peers/venv/bin/python3" dir="$LAB/srv20-bmc" password fp
  mkdir -p "$dir/state" "$LAB/files"
  if [[ ! -f "$dir/cert.pem" ]]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
      -subj /CN=srv20-bmc -addext subjectAltName=IP:127.0.0.1 \
      -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
  fi
  fp=$(openssl x509 -in "$dir/cert.pem" -noout -fingerprint -sha256 | cut -d= -f2)
  password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  "$py" -c 'import bcrypt,sys; open(sys.argv[1],"w").write("admin:"+bcrypt.hashpw(sys.argv[2].encode(), bcrypt.gensalt(rounds=6)).decode()+"\n")' \
    "$dir/htpasswd" "$password"
  chmod 600 "$dir/htpasswd"
  BAO_ADDR="http://127.0.0.1:$BAO_PORT" BAO_TOKEN="$(cat "$LAB/vault-token")" \
    "$OOBGATE_ROOT/target/peers/venv/bin/bao" kv put -mount=secret devices/srv20-bmc \
    username=admin password="$password" >/dev/null
  [[ -f "$dir/uuid" ]] || "$py" -c 'import uuid; print(uuid.uuid4())' > "$dir/uuid"
  cat > "$dir/emulator.conf" <<CONF
SUSHY_EMULATOR_AUTH_FILE = '$dir/htpasswd'
SUSHY_EMULATOR_SSL_CERT = '$dir/cert.pem'
SUSHY_EMULATOR_SSL_KEY = '$dir/key.pem'
SUSHY_EMULATOR_STATE_DIR = '$dir/state'
SUSHY_EMULATOR_FAKE_SYSTEMS = [{'uuid': '$(cat "$dir/uuid")', 'name': 'srv20', 'power_state': 'On', 'nics': []}]
CONF
  nohup "$OOBGATE_ROOT/target/peers/venv/bin/sushy-emulator" --fake -i 127.0.0.1 -p "$SRV20_PORT" \
    --config "$dir/emulator.conf" >"$LAB/srv20-bmc.log" 2>&1 </dev/null &
  echo $! > "$LAB/srv20-bmc.pid"
  wait_port "$SRV20_PORT" "$LAB/srv20-bmc.pid" "srv20's BMC (sushy-emulator)" "$LAB/srv20-bmc.log" || return 1

  # Images the BMC may be given: a small ISO-like file and a firmware blob.
  [[ -f "$LAB/files/rescue.iso" ]] || head -c 1048576 /dev/urandom > "$LAB/files/rescue.iso"
  [[ -f "$LAB/files/firmware.bin" ]] || head -c 262144 /dev/urandom > "$LAB/files/firmware.bin"
  nohup "$py" -m http.server --bind 127.0.0.1 --directory "$LAB/files" "$FILES_PORT" \
    >"$LAB/files.log" 2>&1 </dev/null &
  echo $! > "$LAB/files.pid"
  wait_port "$FILES_PORT" "$LAB/files.pid" "the file server" "$LAB/files.log" || return 1

  cat >> "$LAB/inventory.toml" <<INV

[[device]]
name = "srv20-bmc"
kind = "redfish"
address = "https://127.0.0.1:$SRV20_PORT"
credential = "devices/srv20-bmc"
labels = { site = "ams1", type = "server", server = "srv20" }
tls_fingerprint = "sha256:$fp"
description = "srv20 Redfish BMC (sushy-emulator): power, boot, virtual media, firmware, event log"
INV
}
