package client

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/claybridge/claybridge/config"
	"github.com/claybridge/claybridge/internal/testenv"
)

const (
	testPassword = "connect-test-password-5521"
	testToken    = "connect-test-token-7730"
)

// writeFile writes content to a file in a temporary directory.
func writeFile(t *testing.T, name string, content []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// nkeyUser returns a server option set that admits one NKey user, and the
// file holding that user's seed.
func nkeyUser(t *testing.T) (*server.Options, string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	return &server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}}, writeFile(t, "user.nk", seed)
}

// credsUser returns server options in operator mode that trust one
// account, and a .creds file of a user of that account.
func credsUser(t *testing.T) (*server.Options, string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	operator, err := nkeys.CreateOperator()
	must(err)
	operatorPub, err := operator.PublicKey()
	must(err)
	operatorJWT, err := jwt.NewOperatorClaims(operatorPub).Encode(operator)
	must(err)
	operatorClaims, err := jwt.DecodeOperatorClaims(operatorJWT)
	must(err)

	account, err := nkeys.CreateAccount()
	must(err)
	accountPub, err := account.PublicKey()
	must(err)
	accountJWT, err := jwt.NewAccountClaims(accountPub).Encode(operator)
	must(err)

	user, err := nkeys.CreateUser()
	must(err)
	userPub, err := user.PublicKey()
	must(err)
	userJWT, err := jwt.NewUserClaims(userPub).Encode(account)
	must(err)
	seed, err := user.Seed()
	must(err)
	creds, err := jwt.FormatUserConfig(userJWT, seed)
	must(err)

	resolver := &server.MemAccResolver{}
	must(resolver.Store(accountPub, accountJWT))
	opts := &server.Options{TrustedOperators: []*jwt.OperatorClaims{operatorClaims}, AccountResolver: resolver}
	return opts, writeFile(t, "user.creds", creds)
}

func TestConnectAuthenticates(t *testing.T) {
	nkeyOpts, seedFile := nkeyUser(t)
	credsOpts, credsFile := credsUser(t)
	tests := []struct {
		name string
		opts *server.Options
		good config.NATS
		bad  config.NATS
	}{
		{
			name: "user and password",
			opts: &server.Options{Username: "claybridge", Password: testPassword},
			good: config.NATS{User: "claybridge", Password: config.NewSecret(testPassword)},
			bad:  config.NATS{User: "claybridge", Password: config.NewSecret("wrong-" + testPassword)},
		},
		{
			name: "token",
			opts: &server.Options{Authorization: testToken},
			good: config.NATS{Token: config.NewSecret(testToken)},
			bad:  config.NATS{Token: config.NewSecret("wrong-" + testToken)},
		},
		{name: "nkey seed file", opts: nkeyOpts, good: config.NATS{NKeyFile: seedFile}},
		{name: "creds file", opts: credsOpts, good: config.NATS{CredsFile: credsFile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := testenv.Server(t, tt.opts).ClientURL()

			tt.good.URL = url
			nc, err := Connect(tt.good, "test")
			if err != nil {
				t.Fatalf("Connect with credentials: %v", err)
			}
			nc.Close()

			if _, err := Connect(config.NATS{URL: url}, "test"); !errors.Is(err, nats.ErrAuthorization) {
				t.Errorf("Connect without credentials: error %v, want %v", err, nats.ErrAuthorization)
			}
			if tt.bad == (config.NATS{}) {
				return
			}
			tt.bad.URL = url
			_, err = Connect(tt.bad, "test")
			if !errors.Is(err, nats.ErrAuthorization) {
				t.Errorf("Connect with wrong credentials: error %v, want %v", err, nats.ErrAuthorization)
			}
			if err != nil && (strings.Contains(err.Error(), testPassword) || strings.Contains(err.Error(), testToken)) {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
}

func TestConnectTLS(t *testing.T) {
	files := testenv.TLS(t)
	url := testenv.TLSNATS(t, files)
	withClientCert := config.NATSTLS{CAFile: files.CA, CertFile: files.ClientCert, KeyFile: files.ClientKey}
	tests := []struct {
		name    string
		tls     config.NATSTLS
		wantErr string
	}{
		{name: "CA and client certificate", tls: withClientCert},
		{name: "server name", tls: config.NATSTLS{CAFile: files.CA, CertFile: files.ClientCert, KeyFile: files.ClientKey,
			ServerName: testenv.TLSServerName}},
		{name: "wrong server name", tls: config.NATSTLS{CAFile: files.CA, CertFile: files.ClientCert, KeyFile: files.ClientKey,
			ServerName: "other.test"}, wantErr: "certificate is valid for"},
		// With TLS 1.3 the server rejects the missing certificate after the
		// handshake, so the client sees its alert or a closed connection.
		{name: "no client certificate", tls: config.NATSTLS{CAFile: files.CA}, wantErr: "connect to NATS at"},
		{name: "system CAs", tls: config.NATSTLS{CertFile: files.ClientCert, KeyFile: files.ClientKey},
			wantErr: "certificate signed by unknown authority"},
		// nats.go upgrades to TLS when the server requires it, with the
		// system's CAs, which do not trust the test CA.
		{name: "no TLS settings", wantErr: "certificate signed by unknown authority"},
		{name: "missing CA file", tls: config.NATSTLS{CAFile: filepath.Join(t.TempDir(), "none.pem")}, wantErr: "nats.tls.ca_file"},
		{name: "certificate without key", tls: config.NATSTLS{CAFile: files.CA, CertFile: files.ClientCert},
			wantErr: "nats.tls.key_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := Connect(config.NATS{URL: url, TLS: tt.tls}, "test")
			if tt.wantErr != "" {
				if err == nil {
					nc.Close()
					t.Fatalf("Connect succeeded, want an error with %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q lacks %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Connect: %v", err)
			}
			defer nc.Close()
			state, err := nc.TLSConnectionState()
			if err != nil || !state.HandshakeComplete {
				t.Errorf("connection is not TLS: %v", err)
			}
		})
	}
}

func TestConnectDefaultsToLocalURL(t *testing.T) {
	_, err := Connect(config.NATS{User: "u", Password: config.NewSecret(testPassword)}, "test")
	if err == nil {
		t.Skip("a NATS server is listening on the default URL")
	}
	if !strings.Contains(err.Error(), nats.DefaultURL) {
		t.Errorf("error %q does not name %s", err, nats.DefaultURL)
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Errorf("error shows the password: %v", err)
	}
}

func TestOptionsNameUnreadableFiles(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	tests := []struct {
		name string
		cfg  config.NATS
		want string
	}{
		{"nkey", config.NATS{NKeyFile: missing}, "nats.nkey_file"},
		{"nkey not a seed", config.NATS{NKeyFile: writeFile(t, "bad.nk", []byte("not a seed"))}, "invalid nats.nkey_file"},
		{"creds", config.NATS{CredsFile: missing}, "nats.creds_file"},
		{"client certificate", config.NATS{TLS: config.NATSTLS{CertFile: missing, KeyFile: missing}}, "nats.tls.cert_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Options(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Options error = %v, want one naming %s", err, tt.want)
			}
		})
	}
}
