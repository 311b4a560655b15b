package claysim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// shutdownTimeout bounds how long Close waits for in-flight requests
// before it closes their connections.
const shutdownTimeout = 5 * time.Second

// Running is a simulator serving HTTP on a TCP listener. The embedded
// Server gives access to stats, faults and the handler itself.
type Running struct {
	*Server

	listener   net.Listener
	httpServer *http.Server
	stopBase   context.CancelCauseFunc
	done       chan struct{}
	serveErr   error

	closeOnce sync.Once
	closeErr  error
}

// Start listens on addr, such as "127.0.0.1:0" for a free port, and
// serves a simulator with cfg until ctx ends or Close is called. It
// returns an error for invalid settings in cfg or when it cannot listen.
func Start(ctx context.Context, addr string, cfg Config) (*Running, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var listenConfig net.ListenConfig
	listener, err := listenConfig.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("claysim: failed to listen on %s: %w", addr, err)
	}

	// Requests outlive ctx until Close has stopped them, so their base
	// context keeps ctx's values but not its cancellation.
	baseCtx, stopBase := context.WithCancelCause(context.WithoutCancel(ctx))
	server := New(cfg)
	running := &Running{
		Server:   server,
		listener: listener,
		stopBase: stopBase,
		done:     make(chan struct{}),
		httpServer: &http.Server{
			Handler:           server,
			BaseContext:       func(net.Listener) context.Context { return baseCtx },
			ReadHeaderTimeout: 10 * time.Second,
		},
	}
	go running.serve()
	go running.closeWhenDone(ctx)
	return running, nil
}

func (r *Running) serve() {
	defer close(r.done)
	err := r.httpServer.Serve(r.listener)
	if !errors.Is(err, http.ErrServerClosed) {
		r.serveErr = fmt.Errorf("claysim: failed to serve on %s: %w", r.Addr(), err)
		r.log.Error().Err(err).Str("addr", r.Addr()).Msg("serving stopped")
	}
}

func (r *Running) closeWhenDone(ctx context.Context) {
	select {
	case <-ctx.Done():
		_ = r.Close()
	case <-r.done:
	}
}

// URL returns the base URL of the simulator, such as
// "http://127.0.0.1:8089".
func (r *Running) URL() string {
	return "http://" + r.Addr()
}

// Addr returns the host:port the simulator listens on.
func (r *Running) Addr() string {
	return r.listener.Addr().String()
}

// Done returns a channel that is closed when the simulator has stopped
// serving, after Close or a failure to accept connections.
func (r *Running) Done() <-chan struct{} {
	return r.done
}

// Close stops the simulator and waits until it has stopped. Requests
// still waiting out their latency get 503. Close waits up to 5 seconds
// for in-flight responses before it closes their connections, and then
// cancels pending and in-flight callbacks and waits for their goroutines.
// It returns an error when the wait for responses timed out or when
// serving had failed, and later calls return the same error.
func (r *Running) Close() error {
	r.closeOnce.Do(func() {
		r.stopBase(errServerStopping)
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := r.httpServer.Shutdown(ctx); err != nil {
			r.closeErr = fmt.Errorf("claysim: shutdown timed out: %w", err)
			_ = r.httpServer.Close()
		}
		<-r.done
		_ = r.Server.Close()
		if r.serveErr != nil {
			r.closeErr = r.serveErr
		}
	})
	return r.closeErr
}
