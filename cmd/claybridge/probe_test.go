package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/claybridge/claybridge/internal/testenv"
)

func TestProbeExitStatus(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/healthz", http.StatusFound)
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	tests := []struct {
		name    string
		args    []string
		code    int
		wantOut string
		wantErr string
	}{
		{name: "2xx", args: []string{srv.URL + "/healthz"}, code: 0, wantOut: "200 OK"},
		{name: "5xx", args: []string{srv.URL + "/readyz"}, code: 1, wantErr: "503 Service Unavailable"},
		{name: "redirect not followed", args: []string{srv.URL + "/moved"}, code: 1, wantErr: "302 Found"},
		{name: "timeout", args: []string{"--timeout", "100ms", srv.URL + "/slow"}, code: 1, wantErr: "no response before the timeout"},
		{name: "connection refused", args: []string{"http://" + testenv.FreeAddr(t) + "/healthz"}, code: 1, wantErr: "connection refused"},
		{name: "no URL", args: nil, code: 2, wantErr: "want 1 argument"},
		{name: "two URLs", args: []string{srv.URL, srv.URL}, code: 2, wantErr: "want 1 argument"},
		{name: "not http", args: []string{"ftp://127.0.0.1/healthz"}, code: 2, wantErr: "invalid URL"},
		{name: "no host", args: []string{"http:///healthz"}, code: 2, wantErr: "invalid URL"},
		{name: "zero timeout", args: []string{"--timeout", "0s", srv.URL + "/healthz"}, code: 2, wantErr: "invalid --timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runCLI(t, append([]string{"probe"}, tt.args...)...)
			if got.code != tt.code {
				t.Errorf("exit status %d, want %d; stdout %q, stderr %q", got.code, tt.code, got.stdout, got.stderr)
			}
			if !strings.Contains(got.stdout, tt.wantOut) {
				t.Errorf("stdout %q lacks %q", got.stdout, tt.wantOut)
			}
			if !strings.Contains(got.stderr, tt.wantErr) {
				t.Errorf("stderr %q lacks %q", got.stderr, tt.wantErr)
			}
		})
	}
}

// A bad flag is an invalid argument: exit status 2, before any connection
// is tried, in every command that documents 2 for invalid arguments.
func TestBadFlagsExitTwo(t *testing.T) {
	tests := [][]string{
		{"submit", "--no-such-flag", "row", "{}"},
		{"results", "--since", "5x", "k"},
		{"forget", "--no-such-flag", "k"},
		{"pause", "--no-such-flag", "bulk", "row"},
		{"dlq", "list", "--no-such-flag"},
		{"probe", "--no-such-flag"},
		{"bench", "--no-such-flag"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			if got := runCLI(t, args...); got.code != 2 {
				t.Errorf("claybridge %v: exit status %d, want 2; stderr:\n%s", args, got.code, got.stderr)
			}
		})
	}
}
