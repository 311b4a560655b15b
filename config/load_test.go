package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// load runs a Loader over a YAML file's content (none when empty), an
// environment and command-line arguments.
func load(t *testing.T, file string, env map[string]string, args ...string) (*Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	l := NewLoader(fs)
	l.LookupEnv = func(name string) (string, bool) {
		value, ok := env[name]
		return value, ok
	}
	if file != "" {
		path := filepath.Join(t.TempDir(), "claybridge.yaml")
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatalf("write config file: %v", err)
		}
		args = append(args, "--config", path)
	}
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse flags %v: %v", args, err)
	}
	return l.Load()
}

func mustLoad(t *testing.T, file string, env map[string]string, args ...string) *Config {
	t.Helper()
	cfg, err := load(t, file, env, args...)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return cfg
}

func TestLoadPrecedence(t *testing.T) {
	const file = "processor:\n  burst: 30\n  ack_wait: 40s\nlog:\n  level: warn\n"
	tests := []struct {
		name      string
		file      string
		env       map[string]string
		args      []string
		burst     int
		ackWait   time.Duration
		logLevel  string
		rateLimit float64
	}{
		{name: "defaults", burst: 20, ackWait: 30 * time.Second, logLevel: "info", rateLimit: 10},
		{name: "file over defaults", file: file, burst: 30, ackWait: 40 * time.Second, logLevel: "warn", rateLimit: 10},
		{
			name: "env over file", file: file,
			env:   map[string]string{"CLAYBRIDGE_PROCESSOR_BURST": "40", "CLAYBRIDGE_LOG_LEVEL": "debug"},
			burst: 40, ackWait: 40 * time.Second, logLevel: "debug", rateLimit: 10,
		},
		{
			name: "flags over env", file: file,
			env:   map[string]string{"CLAYBRIDGE_PROCESSOR_BURST": "40", "CLAYBRIDGE_PROCESSOR_ACK_WAIT": "50s"},
			args:  []string{"--burst", "50", "--rate-limit", "0"},
			burst: 50, ackWait: 50 * time.Second, logLevel: "warn", rateLimit: 0,
		},
		{
			name: "flag equal to the default still wins", file: file,
			args:  []string{"--burst", "20"},
			burst: 20, ackWait: 40 * time.Second, logLevel: "warn", rateLimit: 10,
		},
		{
			name: "empty env counts as unset", file: file,
			env:   map[string]string{"CLAYBRIDGE_PROCESSOR_BURST": ""},
			burst: 30, ackWait: 40 * time.Second, logLevel: "warn", rateLimit: 10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, tt.file, tt.env, tt.args...)
			if got := cfg.Processor.Burst; got != tt.burst {
				t.Errorf("processor.burst = %d, want %d", got, tt.burst)
			}
			if got := cfg.Processor.AckWait; got != tt.ackWait {
				t.Errorf("processor.ack_wait = %s, want %s", got, tt.ackWait)
			}
			if got := cfg.Log.Level; got != tt.logLevel {
				t.Errorf("log.level = %q, want %q", got, tt.logLevel)
			}
			if got := cfg.Processor.RateLimit; got != tt.rateLimit {
				t.Errorf("processor.rate_limit = %g, want %g", got, tt.rateLimit)
			}
		})
	}
}

func TestLoadNATSURLPrecedence(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		args []string
		want string
	}{
		{name: "unset", want: ""},
		{name: "file", file: "nats:\n  url: nats://127.0.0.1:1001\n", want: "nats://127.0.0.1:1001"},
		{
			name: "NATS_URL over file", file: "nats:\n  url: nats://127.0.0.1:1001\n",
			env:  map[string]string{"NATS_URL": "nats://127.0.0.1:1002"},
			want: "nats://127.0.0.1:1002",
		},
		{
			name: "CLAYBRIDGE_NATS_URL over NATS_URL",
			env:  map[string]string{"NATS_URL": "nats://127.0.0.1:1002", "CLAYBRIDGE_NATS_URL": "nats://127.0.0.1:1003"},
			want: "nats://127.0.0.1:1003",
		},
		{
			name: "empty CLAYBRIDGE_NATS_URL falls back to NATS_URL",
			env:  map[string]string{"NATS_URL": "nats://127.0.0.1:1002", "CLAYBRIDGE_NATS_URL": ""},
			want: "nats://127.0.0.1:1002",
		},
		{
			name: "flag over both",
			env:  map[string]string{"NATS_URL": "nats://127.0.0.1:1002", "CLAYBRIDGE_NATS_URL": "nats://127.0.0.1:1003"},
			args: []string{"--nats-url", "nats://127.0.0.1:1004"},
			want: "nats://127.0.0.1:1004",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, tt.file, tt.env, tt.args...)
			if cfg.NATS.URL != tt.want {
				t.Errorf("nats.url = %q, want %q", cfg.NATS.URL, tt.want)
			}
		})
	}
}

func TestLoadConfigFileFromEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "claybridge.yaml")
	if err := os.WriteFile(path, []byte("http:\n  listen: 127.0.0.1:9090\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := mustLoad(t, "", map[string]string{"CLAYBRIDGE_CONFIG": path})
	if cfg.HTTP.Listen != "127.0.0.1:9090" {
		t.Errorf("http.listen = %q, want the file's 127.0.0.1:9090", cfg.HTTP.Listen)
	}
}

func TestLoadTables(t *testing.T) {
	const file = `tables:
  leads:
    webhook_url: https://api.clay.com/v3/sources/webhook/pull-in-data-from-a-webhook-1234
    token_env: LEADS_TOKEN
  accounts:
    webhook_url: http://127.0.0.1:8089/v3/sources/webhook/accounts
`
	cfg := mustLoad(t, file, nil)
	if err := cfg.ResolveSecrets(mapEnv(map[string]string{"LEADS_TOKEN": "leads-secret"})); err != nil {
		t.Fatalf("resolve secrets: %v", err)
	}
	proc := cfg.ProcessorConfig()
	if got := len(proc.Tables); got != 2 {
		t.Fatalf("processor tables: %d, want 2", got)
	}
	leads := proc.Tables["leads"].Webhook
	if leads.URL != "https://api.clay.com/v3/sources/webhook/pull-in-data-from-a-webhook-1234" {
		t.Errorf("leads webhook URL = %q", leads.URL)
	}
	if leads.Token != "leads-secret" {
		t.Errorf("leads token = %q, want the value of LEADS_TOKEN", leads.Token)
	}
	if got := proc.Tables["accounts"].Webhook.Token; got != "" {
		t.Errorf("accounts token = %q, want none", got)
	}
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		env   map[string]string
		args  []string
		wants []string
	}{
		{name: "unknown key", file: "processor:\n  bursts: 3\n", wants: []string{"bursts", "not found"}},
		{
			name: "invalid env value", env: map[string]string{"CLAYBRIDGE_PROCESSOR_MAX_DELIVER": "many"},
			wants: []string{"CLAYBRIDGE_PROCESSOR_MAX_DELIVER", "processor.max_deliver", "whole number"},
		},
		{
			name: "value out of range", args: []string{"--workers-bulk", "0"},
			wants: []string{"processor.workers.bulk", "--workers-bulk", "CLAYBRIDGE_PROCESSOR_WORKERS_BULK", "1 or more"},
		},
		{name: "replicas", file: "processor:\n  replicas: 2\n", wants: []string{"processor.replicas", "1 or 3"}},
		{name: "log level", args: []string{"--log-level", "loud"}, wants: []string{"log level", "loud"}},
		{name: "listen address", args: []string{"--http-listen", "8080"}, wants: []string{"http.listen", "host:port"}},
		{name: "clay URL", args: []string{"--clay-url", "127.0.0.1:8089"}, wants: []string{"clay.url", "http or https"}},
		{name: "table without URL", file: "tables:\n  leads:\n    token_env: LEADS_TOKEN\n", wants: []string{"tables.leads.webhook_url", "missing"}},
		{
			name:  "table with two token sources",
			file:  "tables:\n  leads:\n    webhook_url: https://api.clay.com/x\n    token_env: A\n    token_file: /b\n",
			wants: []string{"tables.leads", "token_env and token_file"},
		},
		{name: "memory limit", args: []string{"--memory-limit-mb", "-2"}, wants: []string{"processor.memory_limit_mb", "-1 or more"}},
		{name: "memory limit too large", args: []string{"--memory-limit-mb", "99999999999999"}, wants: []string{"processor.memory_limit_mb", "at most"}},
		{name: "duration as a number", file: "processor:\n  ack_wait: 30\n", wants: []string{"line 2", "time.Duration"}},
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
		})
	}
}

func TestMemoryLimit(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int64
	}{
		{name: "derived from the default cache budget", want: (64 + memoryHeadroomMB) << 20},
		{name: "derived from a larger cache budget", args: []string{"--cache-memory-mb", "256"}, want: (256 + memoryHeadroomMB) << 20},
		{name: "cache off", args: []string{"--cache-disabled"}, want: 0},
		{name: "set", args: []string{"--memory-limit-mb", "300"}, want: 300 << 20},
		{name: "none", args: []string{"--memory-limit-mb", "-1"}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustLoad(t, "", nil, tt.args...).MemoryLimit(); got != tt.want {
				t.Errorf("MemoryLimit() = %d MiB, want %d MiB", got>>20, tt.want>>20)
			}
		})
	}
}

func TestLoadRejectsSecretsInFile(t *testing.T) {
	const value = "sk-file-secret-7731"
	files := map[string]string{
		"clay.api_key":       "clay:\n  api_key: " + value + "\n",
		"tables.leads.token": "tables:\n  leads:\n    webhook_url: https://api.clay.com/x\n    token: " + value + "\n",
	}
	for name, file := range files {
		t.Run(name, func(t *testing.T) {
			_, err := load(t, file, nil)
			if !errors.Is(err, ErrSecretInFile) {
				t.Fatalf("error = %v, want ErrSecretInFile", err)
			}
			if strings.Contains(err.Error(), value) {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

func mapEnv(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		value, ok := env[name]
		return value, ok
	}
}
