package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"
)

func TestSecretNeverFormatted(t *testing.T) {
	const value = "sk-live-0042"
	s := NewSecret(value)
	holder := struct{ Key Secret }{s}
	var logs bytes.Buffer
	log := zerolog.New(&logs)
	log.Info().Interface("holder", holder).Stringer("key", s).Msg("")
	jsonOut, _ := json.Marshal(holder)
	yamlOut, _ := yaml.Marshal(holder)
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", s), "%s": fmt.Sprintf("%s", s), "%q": fmt.Sprintf("%q", s),
		"%d": fmt.Sprintf("%d", s), "%x": fmt.Sprintf("%x", s), "%#v": fmt.Sprintf("%#v", holder),
		"%+v": fmt.Sprintf("%+v", holder), "json": string(jsonOut), "yaml": string(yamlOut),
		"zerolog": logs.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, value) {
			t.Errorf("%s shows the secret: %s", name, out)
		}
		if !strings.Contains(out, redactedText) {
			t.Errorf("%s = %q, want it to contain %s", name, out, redactedText)
		}
	}
	if s.Reveal() != value {
		t.Errorf("Reveal() = %q, want %q", s.Reveal(), value)
	}
}

func TestResolveSecrets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	keyFile := write("api-key", "key-from-file\n")
	tokenFile := write("token", "  token-from-file \n")
	emptyFile := write("empty", "\n")
	tests := []struct {
		name      string
		cfg       Config
		env       map[string]string
		wantKey   string
		wantToken string
		wantErr   []string
	}{
		{name: "none", cfg: Config{}},
		{name: "api key from env", env: map[string]string{"CLAYBRIDGE_CLAY_API_KEY": "key-from-env"}, wantKey: "key-from-env"},
		{name: "api key from file", cfg: Config{Clay: Clay{APIKeyFile: keyFile}}, wantKey: "key-from-file"},
		{
			name: "api key from both", cfg: Config{Clay: Clay{APIKeyFile: keyFile}},
			env:     map[string]string{"CLAYBRIDGE_CLAY_API_KEY": "key-from-env"},
			wantErr: []string{"CLAYBRIDGE_CLAY_API_KEY", "clay.api_key_file", "both"},
		},
		{name: "empty key file", cfg: Config{Clay: Clay{APIKeyFile: emptyFile}}, wantErr: []string{"clay.api_key_file", "empty"}},
		{name: "missing key file", cfg: Config{Clay: Clay{APIKeyFile: filepath.Join(dir, "nope")}}, wantErr: []string{"clay.api_key_file", "nope"}},
		{
			name:      "token from env",
			cfg:       Config{Tables: map[string]Table{"leads": {TokenEnv: "LEADS_TOKEN"}}},
			env:       map[string]string{"LEADS_TOKEN": "token-from-env"},
			wantToken: "token-from-env",
		},
		{
			name:      "token from file",
			cfg:       Config{Tables: map[string]Table{"leads": {TokenFile: tokenFile}}},
			wantToken: "token-from-file",
		},
		{
			name:    "token env unset",
			cfg:     Config{Tables: map[string]Table{"leads": {TokenEnv: "LEADS_TOKEN"}}},
			wantErr: []string{"tables.leads.token_env", "LEADS_TOKEN", "not set"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			err := cfg.ResolveSecrets(mapEnv(tt.env))
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("ResolveSecrets succeeded, want an error")
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not contain %q", err, want)
					}
				}
				for _, secret := range []string{"key-from-env", "key-from-file"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error shows a secret: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolveSecrets: %v", err)
			}
			if got := cfg.Clay.APIKey.Reveal(); got != tt.wantKey {
				t.Errorf("API key = %q, want %q", got, tt.wantKey)
			}
			if got := cfg.Tables["leads"].Token.Reveal(); got != tt.wantToken {
				t.Errorf("leads token = %q, want %q", got, tt.wantToken)
			}
		})
	}
}

func TestWriteYAMLRedacts(t *testing.T) {
	cfg := Default()
	cfg.NATS.URL = "nats://ops:nats-password-1@127.0.0.1:4222"
	cfg.Clay.APIKey = NewSecret("sk-live-0042")
	cfg.Tables = map[string]Table{"leads": {
		WebhookURL: "https://api.clay.com/v3/sources/webhook/pull-in-data-from-a-webhook-5e3c1a",
		TokenEnv:   "LEADS_TOKEN",
		Token:      NewSecret("leads-token-99"),
	}}
	for _, comments := range []bool{false, true} {
		var out bytes.Buffer
		if err := WriteYAML(&out, cfg, comments); err != nil {
			t.Fatalf("WriteYAML: %v", err)
		}
		for _, secret := range []string{"nats-password-1", "sk-live-0042", "5e3c1a", "leads-token-99"} {
			if strings.Contains(out.String(), secret) {
				t.Errorf("comments=%v: output shows %q:\n%s", comments, secret, out.String())
			}
		}
		for _, want := range []string{"https://api.clay.com/[redacted]", "token_env: LEADS_TOKEN", "api_key: '[redacted]'"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("comments=%v: output lacks %q:\n%s", comments, want, out.String())
			}
		}
	}
	if cfg.Tables["leads"].WebhookURL != "https://api.clay.com/v3/sources/webhook/pull-in-data-from-a-webhook-5e3c1a" {
		t.Error("WriteYAML changed the configuration it printed")
	}
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"nats://127.0.0.1:4222":                      "nats://127.0.0.1:4222",
		"nats://u:p@127.0.0.1:4222":                  "nats://[redacted]@127.0.0.1:4222",
		"nats://a@127.0.0.1:1,tls://b:c@127.0.0.1:2": "nats://[redacted]@127.0.0.1:1,tls://[redacted]@127.0.0.1:2",
		"": "",
	}
	for in, want := range tests {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
