package main

import (
	"io"
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

func TestRunRejectsInvalidLogLevel(t *testing.T) {
	if code := run([]string{"--log-level", "loud"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("exit code = %d, want 2", code)
	}
}
