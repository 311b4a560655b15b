package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, opts options)
	}{
		{
			name: "defaults",
			check: func(t *testing.T, opts options) {
				if opts.listen != "127.0.0.1:8089" || opts.config.RateLimit != 10 || opts.config.Burst != 20 {
					t.Errorf("opts = %+v, want 127.0.0.1:8089, 10 records/s and burst 20", opts)
				}
			},
		},
		{
			name: "zero rate limit disables the limit",
			args: []string{"--rate-limit", "0"},
			check: func(t *testing.T, opts options) {
				if opts.config.RateLimit >= 0 {
					t.Errorf("rate limit = %v, want a negative value (no limit)", opts.config.RateLimit)
				}
			},
		},
		{
			name: "zero routine delay makes results ready at once",
			args: []string{"--routine-delay", "0s"},
			check: func(t *testing.T, opts options) {
				if opts.config.RoutineDelay >= 0 {
					t.Errorf("routine delay = %v, want a negative value (ready at once)", opts.config.RoutineDelay)
				}
			},
		},
		{
			name: "token and API key from the environment",
			args: []string{"--api-key-env", "TEST_CLAY_KEY"},
			env:  map[string]string{webhookTokenEnv: "env-token", "TEST_CLAY_KEY": "env-key"},
			check: func(t *testing.T, opts options) {
				if opts.config.WebhookToken != "env-token" || opts.config.APIKey != "env-key" {
					t.Errorf("token = %q, API key = %q, want env-token and env-key", opts.config.WebhookToken, opts.config.APIKey)
				}
			},
		},
		{
			name: "token flag wins over the environment",
			args: []string{"--webhook-token", "flag-token"},
			env:  map[string]string{webhookTokenEnv: "env-token"},
			check: func(t *testing.T, opts options) {
				if opts.config.WebhookToken != "flag-token" {
					t.Errorf("token = %q, want flag-token", opts.config.WebhookToken)
				}
			},
		},
		{
			name: "public limit and callback defaults",
			check: func(t *testing.T, opts options) {
				cfg := opts.config
				if cfg.PublicRateLimit != 0 || cfg.PublicRateWindow != time.Second || cfg.PublicRetryAfterMode != "seconds" {
					t.Errorf("public limit = %d per %v, Retry-After %q, want off, 1s and seconds",
						cfg.PublicRateLimit, cfg.PublicRateWindow, cfg.PublicRetryAfterMode)
				}
				if cfg.CallbackMode != "normal" || cfg.CallbackDelay != 500*time.Millisecond || cfg.CallbackLateDelay != 5*time.Second {
					t.Errorf("callbacks = %q after %v (late %v), want normal after 500ms (late 5s)",
						cfg.CallbackMode, cfg.CallbackDelay, cfg.CallbackLateDelay)
				}
				if cfg.CallbackRetries != 3 || cfg.CallbackRetryBackoff != 100*time.Millisecond || cfg.CapStatus != 403 {
					t.Errorf("callback retries = %d, backoff = %v, cap status = %d, want 3, 100ms and 403",
						cfg.CallbackRetries, cfg.CallbackRetryBackoff, cfg.CapStatus)
				}
			},
		},
		{
			name: "public rate limit, cap status and body limit",
			args: []string{"--public-rate-limit", "5", "--public-rate-window", "1m", "--public-retry-after", "http-date",
				"--cap-status", "422", "--max-body-bytes", "50000"},
			check: func(t *testing.T, opts options) {
				cfg := opts.config
				if cfg.PublicRateLimit != 5 || cfg.PublicRateWindow != time.Minute || cfg.PublicRetryAfterMode != "http-date" {
					t.Errorf("public limit = %d per %v, Retry-After %q, want 5 per 1m and http-date",
						cfg.PublicRateLimit, cfg.PublicRateWindow, cfg.PublicRetryAfterMode)
				}
				if cfg.CapStatus != 422 || cfg.MaxBodyBytes != 50000 {
					t.Errorf("cap status = %d, max body = %d, want 422 and 50000", cfg.CapStatus, cfg.MaxBodyBytes)
				}
			},
		},
		{
			name: "callback settings",
			args: []string{"--callback-mode", "duplicate", "--callback-delay", "20ms", "--callback-late-delay", "2s",
				"--callback-retries", "5", "--callback-retry-backoff", "10ms"},
			check: func(t *testing.T, opts options) {
				cfg := opts.config
				if cfg.CallbackMode != "duplicate" || cfg.CallbackDelay != 20*time.Millisecond || cfg.CallbackLateDelay != 2*time.Second {
					t.Errorf("callbacks = %q after %v (late %v), want duplicate after 20ms (late 2s)",
						cfg.CallbackMode, cfg.CallbackDelay, cfg.CallbackLateDelay)
				}
				if cfg.CallbackRetries != 5 || cfg.CallbackRetryBackoff != 10*time.Millisecond {
					t.Errorf("callback retries = %d, backoff = %v, want 5 and 10ms", cfg.CallbackRetries, cfg.CallbackRetryBackoff)
				}
			},
		},
		{
			name: "zero callback values mean none",
			args: []string{"--callback-delay", "0s", "--callback-late-delay", "0s", "--callback-retries", "0",
				"--callback-retry-backoff", "0s"},
			check: func(t *testing.T, opts options) {
				cfg := opts.config
				if cfg.CallbackDelay >= 0 || cfg.CallbackLateDelay >= 0 || cfg.CallbackRetryBackoff >= 0 {
					t.Errorf("callback delay = %v, late delay = %v, backoff = %v, want negative values (no wait)",
						cfg.CallbackDelay, cfg.CallbackLateDelay, cfg.CallbackRetryBackoff)
				}
				if cfg.CallbackRetries >= 0 {
					t.Errorf("callback retries = %d, want a negative value (no retries)", cfg.CallbackRetries)
				}
			},
		},
		{
			name: "latency by operation",
			args: []string{"--latency-by-operation", "row=1s, search=300ms"},
			check: func(t *testing.T, opts options) {
				got := opts.config.LatencyByOperation
				if got["row"] != time.Second || got["search"] != 300*time.Millisecond {
					t.Errorf("latency by operation = %v, want row 1s and search 300ms", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(webhookTokenEnv, "")
			for name, value := range tt.env {
				t.Setenv(name, value)
			}
			opts, err := parseFlags(tt.args, io.Discard)
			if err != nil {
				t.Fatalf("parseFlags(%q): %v", tt.args, err)
			}
			tt.check(t, opts)
		})
	}
}

func TestParseFlagsRejectsInvalidInput(t *testing.T) {
	tests := [][]string{
		{"--latency", "soon"},
		{"--latency-by-operation", "row"},
		{"--latency-by-operation", "row=-1s"},
		{"extra-argument"},
	}
	for _, args := range tests {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) succeeded, want an error", args)
		}
	}
}

func TestRunRejectsInvalidSettings(t *testing.T) {
	tests := [][]string{
		{"--callback-mode", "twice"},
		{"--public-retry-after", "never"},
		{"--cap-status", "200"},
		{"--public-rate-window", "-1s"},
	}
	for _, args := range tests {
		args = append(args, "--listen", "127.0.0.1:0")
		if code := run(args, io.Discard, io.Discard); code != 1 {
			t.Errorf("run(%q) exit code = %d, want 1", args, code)
		}
	}
}

func TestHelpNamesFlagsWithUnits(t *testing.T) {
	var out strings.Builder
	if code := run([]string{"--help"}, io.Discard, &out); code != 0 {
		t.Fatalf("--help exit code = %d, want 0", code)
	}
	for _, want := range []string{
		"-public-rate-limit requests", "-public-rate-window duration", "-public-retry-after form",
		"-cap-status status", "-max-body-bytes bytes",
		"-callback-mode mode", "-callback-delay duration", "-callback-late-delay duration",
		"-callback-retries retries", "-callback-retry-backoff duration",
		"X-Claybridge-Callback-Token",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help output lacks %q", want)
		}
	}
}

func TestRunRejectsInvalidLogLevel(t *testing.T) {
	if code := run([]string{"--log-level", "loud"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("exit code = %d, want 2", code)
	}
}
