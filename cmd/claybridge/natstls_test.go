package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/claybridge/claybridge/internal/testenv"
)

// TestRunAndSubmitOverTLS runs claybridge against a nats-server that
// accepts only TLS clients with a certificate, with the CA, client
// certificate and server name from the configuration file.
func TestRunAndSubmitOverTLS(t *testing.T) {
	files := testenv.TLS(t)
	natsURL := testenv.TLSNATS(t, files)
	t.Setenv("NATS_URL", "")
	config := fmt.Sprintf("nats:\n  url: %s\n  tls:\n    ca_file: %s\n    cert_file: %s\n    key_file: %s\n    server_name: %s\n",
		natsURL, files.CA, files.ClientCert, files.ClientKey, testenv.TLSServerName)
	configFile := writeConfigFile(t, config)
	httpAddr := testenv.FreeAddr(t)
	args := []string{"run", "--config", configFile, "--sim", "--sim-listen", "127.0.0.1:0", "--http-listen", httpAddr,
		"--log-format", "json"}

	running := startCLI(t, httpAddr, args...)
	if !strings.Contains(running.logs.String(), `"tls":true`) {
		t.Errorf("run does not log a TLS connection:\n%s", running.logs.String())
	}

	got := runCLI(t, "submit", "--config", configFile, "--id", "tls-row", "--wait", "--timeout", "20s",
		"row", `{"table":"leads","row":{"email":"tomas.berg@fjordworks.example.net"}}`)
	if got.code != 0 || !strings.Contains(got.stdout, "result on clay.result.normal.row") {
		t.Errorf("submit over TLS: exit status %d\nstdout:\n%s\nstderr:\n%s", got.code, got.stdout, got.stderr)
	}
	noCert := runCLI(t, "submit", "--nats-url", natsURL, "--nats-tls-ca-file", files.CA, "row", `{"table":"leads","row":{}}`)
	// With TLS 1.3 the server rejects the missing certificate after the
	// handshake, so the client sees its alert or a closed connection.
	if noCert.code != 1 || !strings.Contains(noCert.stderr, "connect to NATS at") {
		t.Errorf("submit without a client certificate: exit status %d, want 1 with a connection error\nstderr:\n%s",
			noCert.code, noCert.stderr)
	}

	running.stop(t)
}
