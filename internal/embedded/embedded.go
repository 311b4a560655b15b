// Package embedded starts an in-process NATS server with JetStream, for
// laptops, demos and tests. Production deployments connect to a NATS
// cluster instead.
package embedded

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config configures an embedded server.
type Config struct {
	// Listen is host:port of the client listener; port 0 picks a free one.
	Listen string
	// DataDir holds JetStream's files.
	DataDir string
	// User and Password, when set, are required of every client.
	User     string
	Password string
	// Token, when set, is required of every client. It excludes User.
	Token string
	// SyncAlways makes JetStream flush every write to disk before
	// acknowledging it, trading throughput for durability on power loss.
	SyncAlways bool
	// MaxPayload is the largest message the server accepts, default 1 MiB.
	MaxPayload int32
}

// Server is a running embedded server.
type Server struct {
	*server.Server
}

// Start starts a server and waits until it accepts clients.
func Start(cfg Config) (*Server, error) {
	host, portText, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("invalid NATS listen address %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("invalid NATS listen port %q: %w", portText, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if cfg.DataDir == "" {
		return nil, errors.New("embedded NATS needs a data directory")
	}
	if (cfg.User == "") != (cfg.Password == "") {
		return nil, errors.New("embedded NATS needs both a user and a password, or neither")
	}
	if cfg.Token != "" && cfg.User != "" {
		return nil, errors.New("embedded NATS takes a user and password or a token, not both")
	}
	opts := &server.Options{
		ServerName:    "claybridge-embedded",
		Host:          host,
		Port:          port,
		JetStream:     true,
		StoreDir:      cfg.DataDir,
		Username:      cfg.User,
		Password:      cfg.Password,
		Authorization: cfg.Token,
		SyncAlways:    cfg.SyncAlways,
		MaxPayload:    cfg.MaxPayload,
		NoSigs:        true,
		NoLog:         true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("configure embedded NATS: %w", err)
	}
	if port != server.RANDOM_PORT {
		// The server only logs a failed listen, so check the address first.
		probe, err := net.Listen("tcp", net.JoinHostPort(host, portText))
		if err != nil {
			return nil, fmt.Errorf("embedded NATS cannot listen on %s (pick another --nats-listen or stop what uses it): %w", cfg.Listen, err)
		}
		_ = probe.Close()
	}
	go srv.Start()
	if !srv.ReadyForConnections(15 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded NATS on %s did not start within 15s", cfg.Listen)
	}
	return &Server{srv}, nil
}

// Stop shuts the server down and waits for it to finish.
func (s *Server) Stop() {
	s.Shutdown()
	s.WaitForShutdown()
}
