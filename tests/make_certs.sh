#!/usr/bin/env bash
# Makes throw-away certificates for the TLS tests with the openssl command (ctest runs it
# as the fixture "tls_certs" before every test that needs them):
#   ca.pem              a test CA (key ca.key), the one the tests trust
#   server.pem/.key     signed by it for localhost, 127.0.0.1 and ::1 (leaf then CA: a chain)
#   expired.pem/.key    signed by it for the same names, valid only in 2020
#   other-ca.pem        a second CA, trusted by nobody
#   untrusted.pem/.key  signed by the second CA for localhost
#   self.pem/.key       self-signed for localhost
#   wrongname.pem/.key  signed by the test CA for wrong.example only
# Usage: make_certs.sh DIR   (DIR is emptied first). Keys are EC P-256: fast to make.
set -euo pipefail
dir=${1:?usage: make_certs.sh DIR}
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"

# ossl ARGS...: openssl with its chatter in log, shown only when it fails.
ossl() { openssl "$@" >>log 2>&1 || { cat log >&2; echo "make_certs.sh: openssl $1 failed" >&2; exit 1; }; }
key() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

cat >ext.cnf <<'EOF'
[req]
distinguished_name = dn
[dn]
[test_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[test_leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
authorityKeyIdentifier = keyid
[test_wrongname]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
authorityKeyIdentifier = keyid
[test_self]
basicConstraints = critical, CA:FALSE
subjectAltName = DNS:localhost
EOF

# CA NAME: a self-signed CA certificate NAME.pem with key NAME.key.
ca() {
  key "$1.key"
  ossl req -x509 -new -key "$1.key" -subj "/CN=corio test $1" -days 30 \
    -extensions test_ca -config ext.cnf -out "$1.pem"
}

# LEAF NAME ISSUER [EXTENSIONS]: NAME.pem (leaf, then the issuer: a chain) signed by ISSUER,
# for localhost unless EXTENSIONS (a section of ext.cnf) says otherwise.
leaf() {
  key "$1.key"
  ossl req -new -key "$1.key" -subj "/CN=localhost" -config ext.cnf -out "$1.csr"
  ossl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 30 \
    -extfile ext.cnf -extensions "${3:-test_leaf}" -out "$1.crt"
  cat "$1.crt" "$2.pem" >"$1.pem"
}

ca ca
leaf server ca
ca other-ca
leaf untrusted other-ca
leaf wrongname ca test_wrongname

# Expired: openssl x509 -req cannot set a start date in this OpenSSL; openssl ca can.
mkdir -p expired-ca
: >expired-ca/index.txt
echo 1000 >expired-ca/serial
cat >expired-ca/ca.cnf <<EOF
[ca]
default_ca = test
[test]
dir = $dir/expired-ca
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
policy = anything
copy_extensions = none
[anything]
commonName = supplied
EOF
key expired.key
ossl req -new -key expired.key -subj "/CN=localhost" -config ext.cnf -out expired.csr
ossl ca -batch -config expired-ca/ca.cnf -startdate 20200101000000Z -enddate 20200201000000Z \
  -extfile ext.cnf -extensions test_leaf -in expired.csr -out expired.crt
cat expired.crt ca.pem >expired.pem

key self.key
ossl req -x509 -new -key self.key -subj "/CN=localhost" -days 30 -extensions test_self \
  -config ext.cnf -out self.pem

for f in ca server expired other-ca untrusted self wrongname; do
  [ -s "$f.pem" ] && [ -s "$f.key" ] || { echo "make_certs.sh: $f not made" >&2; exit 1; }
done
ossl verify -CAfile ca.pem server.crt
echo "certificates in $dir"
