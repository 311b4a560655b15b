package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	testNATSPassword = "nats-pass-6402"
	testNATSToken    = "nats-token-3318"
)

func TestLoadNATSCredentials(t *testing.T) {
	dir := t.TempDir()
	passwordFile := filepath.Join(dir, "password")
	tokenFile := filepath.Join(dir, "token")
	for path, value := range map[string]string{passwordFile: testNATSPassword + "\n", tokenFile: " " + testNATSToken} {
		if err := os.WriteFile(path, []byte(value), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		file     string
		env      map[string]string
		args     []string
		password string
		token    string
	}{
		{name: "password from env", env: map[string]string{"CLAYBRIDGE_NATS_PASSWORD": testNATSPassword},
			args: []string{"--nats-user", "claybridge"}, password: testNATSPassword},
		{name: "password from a file", file: "nats:\n  user: claybridge\n  password_file: " + passwordFile + "\n",
			password: testNATSPassword},
		{name: "token from env", env: map[string]string{"CLAYBRIDGE_NATS_TOKEN": testNATSToken}, token: testNATSToken},
		{name: "token from a file", args: []string{"--nats-token-file", tokenFile}, token: testNATSToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, tt.file, tt.env, tt.args...)
			if got := cfg.NATS.Password.Reveal(); got != tt.password {
				t.Errorf("password = %q, want %q", got, tt.password)
			}
			if got := cfg.NATS.Token.Reveal(); got != tt.token {
				t.Errorf("token = %q, want %q", got, tt.token)
			}
		})
	}
}

func TestLoadNATSSettings(t *testing.T) {
	file := "nats:\n  creds_file: /etc/nats/claybridge.creds\n  tls:\n    ca_file: /etc/nats/ca.pem\n"
	env := map[string]string{"CLAYBRIDGE_NATS_TLS_SERVER_NAME": "nats.example.internal"}
	cfg := mustLoad(t, file, env, "--nats-tls-cert-file", "/etc/nats/client.pem", "--nats-tls-key-file", "/etc/nats/client-key.pem")
	want := NATSTLS{CAFile: "/etc/nats/ca.pem", CertFile: "/etc/nats/client.pem", KeyFile: "/etc/nats/client-key.pem",
		ServerName: "nats.example.internal"}
	if cfg.NATS.TLS != want {
		t.Errorf("TLS = %+v, want %+v", cfg.NATS.TLS, want)
	}
	if cfg.NATS.CredsFile != "/etc/nats/claybridge.creds" {
		t.Errorf("creds file = %q, want /etc/nats/claybridge.creds", cfg.NATS.CredsFile)
	}
}

func TestLoadRejectsNATSSettings(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	pass := map[string]string{"CLAYBRIDGE_NATS_PASSWORD": testNATSPassword}
	tests := []struct {
		name  string
		file  string
		env   map[string]string
		args  []string
		wants []string
	}{
		{name: "user without password", args: []string{"--nats-user", "claybridge"},
			wants: []string{"nats.user", "no password", "CLAYBRIDGE_NATS_PASSWORD"}},
		{name: "password without user", env: pass, wants: []string{"CLAYBRIDGE_NATS_PASSWORD", "without a user"}},
		{name: "password twice", env: pass, args: []string{"--nats-user", "u", "--nats-password-file", missing},
			wants: []string{"CLAYBRIDGE_NATS_PASSWORD and nats.password_file are both set"}},
		{name: "password file missing", args: []string{"--nats-user", "u", "--nats-password-file", missing},
			wants: []string{"read nats.password_file"}},
		{name: "two methods", env: map[string]string{"CLAYBRIDGE_NATS_TOKEN": testNATSToken},
			args: []string{"--nats-creds-file", "/x.creds"}, wants: []string{"a token, nats.creds_file", "one authentication method"}},
		{name: "certificate without key", args: []string{"--nats-tls-cert-file", "/c.pem"},
			wants: []string{"nats.tls.cert_file", "nats.tls.key_file"}},
		{name: "embedded with TLS", args: []string{"--embedded-nats", "--nats-tls-ca-file", "/ca.pem"},
			wants: []string{"embedded NATS server", "nats.tls"}},
		{name: "embedded with creds", args: []string{"--embedded-nats", "--nats-creds-file", "/x.creds"},
			wants: []string{"embedded NATS server", "nats.creds_file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.file, tt.env, tt.args...)
			if err == nil {
				t.Fatal("load succeeded, want an error")
			}
			for _, want := range tt.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			for _, secret := range []string{testNATSPassword, testNATSToken} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows a secret: %v", err)
				}
			}
		})
	}
}

func TestLoadRejectsNATSSecretsInFile(t *testing.T) {
	for _, key := range []string{"password", "token"} {
		t.Run(key, func(t *testing.T) {
			_, err := load(t, "nats:\n  user: u\n  "+key+": "+testNATSPassword+"\n", nil)
			if !errors.Is(err, ErrSecretInFile) {
				t.Fatalf("error = %v, want ErrSecretInFile", err)
			}
			if strings.Contains(err.Error(), testNATSPassword) {
				t.Errorf("error shows the secret: %v", err)
			}
			if !strings.Contains(err.Error(), "nats."+key+"_file") {
				t.Errorf("error %q does not name nats.%s_file", err, key)
			}
		})
	}
}

func TestEmbeddedAcceptsUserAndPassword(t *testing.T) {
	cfg := mustLoad(t, "", map[string]string{"CLAYBRIDGE_NATS_PASSWORD": testNATSPassword},
		"--embedded-nats", "--nats-user", "claybridge")
	if cfg.NATS.User != "claybridge" || cfg.NATS.Password.Reveal() != testNATSPassword {
		t.Errorf("NATS = user %q, password set %t; want claybridge and the password", cfg.NATS.User, !cfg.NATS.Password.IsZero())
	}
}

func TestWriteYAMLRedactsNATSSecrets(t *testing.T) {
	cfg := mustLoad(t, "", map[string]string{"CLAYBRIDGE_NATS_PASSWORD": testNATSPassword}, "--nats-user", "claybridge")
	var out bytes.Buffer
	if err := WriteYAML(&out, *cfg, false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), testNATSPassword) {
		t.Errorf("output shows the password:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "password: '[redacted]'") {
		t.Errorf("output lacks the redacted password:\n%s", out.String())
	}
}

// embeddedServerKeys are the NATS settings of the embedded server only.
var embeddedServerKeys = []string{"nats.embedded", "nats.listen", "nats.data_dir", "nats.sync_always"}

func TestNATSClientKeysCoverConnectionSettings(t *testing.T) {
	clientKeys := NATSClientKeys()
	for _, key := range clientKeys {
		s, ok := lookupSetting(key)
		if !ok || s.flag == "" {
			t.Errorf("NATSClientKeys lists %s, which is not a setting with a flag", key)
		}
	}
	for _, s := range settings {
		if !strings.HasPrefix(s.key, "nats.") || s.secret || slices.Contains(embeddedServerKeys, s.key) {
			continue
		}
		if !slices.Contains(clientKeys, s.key) {
			t.Errorf("setting %s is missing from NATSClientKeys, so client commands would not take it", s.key)
		}
	}
}
