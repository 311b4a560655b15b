package embedded

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", t.TempDir()
	srv, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

func TestAuthenticationRequired(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		good  nats.Option
		wrong nats.Option
	}{
		{
			name:  "user and password",
			cfg:   Config{User: "claybridge", Password: "embedded-pass-8812"},
			good:  nats.UserInfo("claybridge", "embedded-pass-8812"),
			wrong: nats.UserInfo("claybridge", "other"),
		},
		{
			name:  "token",
			cfg:   Config{Token: "embedded-token-1934"},
			good:  nats.Token("embedded-token-1934"),
			wrong: nats.Token("other"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := start(t, tt.cfg)
			for name, opts := range map[string][]nats.Option{"no credentials": nil, "wrong credentials": {tt.wrong}} {
				nc, err := nats.Connect(srv.ClientURL(), opts...)
				if err == nil {
					nc.Close()
				}
				if !errors.Is(err, nats.ErrAuthorization) {
					t.Errorf("connect with %s: error %v, want %v", name, err, nats.ErrAuthorization)
				}
			}
			nc, err := nats.Connect(srv.ClientURL(), tt.good)
			if err != nil {
				t.Fatalf("connect with the credentials: %v", err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := js.AccountInfo(ctx); err != nil {
				t.Errorf("JetStream account info for the authenticated user: %v", err)
			}
		})
	}
}

func TestOpenWithoutCredentials(t *testing.T) {
	srv := start(t, Config{})
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	nc.Close()
}

func TestStartRejectsIncompleteCredentials(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"user without password", Config{User: "claybridge"}, "both a user and a password"},
		{"password without user", Config{Password: "p"}, "both a user and a password"},
		{"user and token", Config{User: "claybridge", Password: "p", Token: "t"}, "not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Listen, tt.cfg.DataDir = "127.0.0.1:0", t.TempDir()
			srv, err := Start(tt.cfg)
			if err == nil {
				srv.Stop()
				t.Fatal("Start succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

func TestStartRejectsTakenPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer busy.Close()
	srv, err := Start(Config{Listen: busy.Addr().String(), DataDir: t.TempDir()})
	if err == nil {
		srv.Stop()
		t.Fatal("Start succeeded on a taken port, want an error")
	}
	if !strings.Contains(err.Error(), "cannot listen on "+busy.Addr().String()) {
		t.Errorf("error %q does not name the taken address", err)
	}
}
