package callback

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"
)

// ServerConfig configures the callback listener.
type ServerConfig struct {
	// Listen is the address, such as 127.0.0.1:8090.
	Listen string
	// CertFile and KeyFile, when set, serve HTTPS with that PEM
	// certificate and key. Without them the listener serves plain HTTP,
	// and a reverse proxy in front of it terminates TLS.
	CertFile string
	KeyFile  string
}

// Server is a running callback listener.
type Server struct {
	srv  *http.Server
	addr net.Addr
	done chan error
}

// Serve starts serving h on cfg.Listen. Serving errors after the start are
// logged.
func Serve(cfg ServerConfig, h http.Handler, log zerolog.Logger) (*Server, error) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
	if cfg.CertFile != "" || cfg.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load the callback listener's TLS certificate: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on --callback-listen %s: %w", cfg.Listen, err)
	}
	s := &Server{srv: srv, addr: ln.Addr(), done: make(chan error, 1)}
	go func() {
		var err error
		if srv.TLSConfig != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = s.srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("callback listener stopped")
		}
		s.done <- err
	}()
	return s, nil
}

// Addr returns the address the listener is bound to.
func (s *Server) Addr() net.Addr { return s.addr }

// Close stops the listener, letting requests in progress finish for up to
// five seconds.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	<-s.done
}
