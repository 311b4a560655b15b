package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/claybridge/claybridge/clay"
	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/config"
	"github.com/claybridge/claybridge/internal/client"
	"github.com/claybridge/claybridge/internal/embedded"
	"github.com/claybridge/claybridge/internal/logging"
	"github.com/claybridge/claybridge/internal/version"
	"github.com/claybridge/claybridge/processor"
)

// runAbout explains where run's settings come from.
const runAbout = `Every flag is also a key of the YAML file named by --config and a
CLAYBRIDGE_* environment variable. Flags override the environment, which
overrides the file. "claybridge config --defaults" prints every key, and
docs/configuration.md lists them with their environment variables. Secrets
(the Clay API key, table tokens, the NATS password and token) come only
from the environment or files.`

func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", "run [flags]", runAbout, stderr)
	loader := config.NewLoader(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: run takes only flags", fs.Arg(0))
	}
	cfg, err := loader.Load()
	if err != nil {
		return err
	}
	if err := cfg.ResolveSecrets(loader.LookupEnv); err != nil {
		return err
	}
	if err := checkRun(cfg); err != nil {
		return err
	}
	log, err := logging.New(stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return err
	}
	return (&runner{cfg: cfg}).run(ctx, log)
}

// checkRun reports the first missing or conflicting setting that run
// needs, naming the flags and variables that set it.
func checkRun(cfg *config.Config) error {
	switch {
	case !cfg.NATS.Embedded && cfg.NATS.URL == "":
		return errors.New("missing NATS URL: set --nats-url, CLAYBRIDGE_NATS_URL or NATS_URL (or nats.url in the --config file), or add --embedded-nats for a local server")
	case cfg.NATS.Embedded && cfg.NATS.URL != "":
		return errors.New("conflicting settings: --embedded-nats and --nats-url (or CLAYBRIDGE_NATS_URL, NATS_URL, nats.url); use one")
	case cfg.Sim.Enabled && cfg.Clay.URL != "":
		return errors.New("conflicting settings: --sim and --clay-url; use one")
	case !cfg.Sim.Enabled && cfg.Clay.URL == "" && cfg.Clay.APIKey.IsZero():
		return errors.New("missing Clay configuration: real Clay needs an API key in CLAYBRIDGE_CLAY_API_KEY or the file named by --clay-api-key-file; or use --sim for the in-process simulator, or --clay-url URL for a standalone one")
	}
	return checkCallbacks(cfg)
}

// runner runs the processor with its NATS server, simulator and HTTP
// listener.
type runner struct {
	cfg *config.Config
}

func (r *runner) run(ctx context.Context, log zerolog.Logger) error {
	log.Info().Str("version", version.Version).Msg("claybridge starting")
	r.limitMemory(log)
	natsURL, stopNATS, err := r.startNATS(log)
	if err != nil {
		return err
	}
	defer stopNATS()
	clayURL, stopSim, err := r.startSim(ctx, log)
	if err != nil {
		return err
	}
	defer stopSim()

	natsCfg := r.cfg.NATS
	natsCfg.URL = natsURL
	nc, err := connectNATS(natsCfg, log)
	if err != nil {
		return err
	}
	defer nc.Drain()

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	procCfg := r.cfg.ProcessorConfig()
	procCfg.Logger, procCfg.Registerer = log, registry
	if r.cfg.Sim.Enabled || r.cfg.Clay.URL != "" {
		procCfg.DefaultWebhookBase = clayURL
		log.Info().Str("base_url", config.RedactURL(clayURL)).Int("tables", len(procCfg.Tables)).
			Msg("tables that are not configured map to webhook sources on the Clay base URL")
	}
	apiKey := r.cfg.Clay.APIKey.Reveal()
	if r.cfg.Sim.Enabled {
		apiKey, procCfg.HasAPIKey = simAPIKey, true
	}
	client := clay.New(clay.Config{BaseURL: clayURL, APIKey: apiKey, ConnectTimeout: r.cfg.Clay.ConnectTimeout})
	stopCallbacks, err := r.startCallbacks(nc, &procCfg, registry, log)
	if err != nil {
		return err
	}
	defer stopCallbacks()
	proc, err := processor.New(nc, client, procCfg)
	if err != nil {
		return err
	}
	stopHTTP, err := serveHTTP(r.cfg.HTTP.Listen, registry, proc, nc, log)
	if err != nil {
		return err
	}
	defer stopHTTP()
	return proc.Run(ctx, r.cfg.Processor.ShutdownGrace)
}

// limitMemory sets the Go runtime's soft memory limit from the
// configuration, unless the GOMEMLIMIT variable set one already.
func (r *runner) limitMemory(log zerolog.Logger) {
	limit := r.cfg.MemoryLimit()
	if env := os.Getenv("GOMEMLIMIT"); env != "" {
		log.Info().Str("GOMEMLIMIT", env).Msg("memory limit taken from GOMEMLIMIT, so processor.memory_limit_mb is ignored")
		return
	}
	if limit == 0 {
		log.Info().Msg("no soft memory limit: processor.memory_limit_mb is -1 or the cache is off")
		return
	}
	debug.SetMemoryLimit(limit)
	log.Info().Int64("memory_limit_mb", limit>>20).Msg("soft memory limit set: the heap is collected more often as it nears it")
}

func (r *runner) startNATS(log zerolog.Logger) (string, func(), error) {
	if !r.cfg.NATS.Embedded {
		return r.cfg.NATS.URL, func() {}, nil
	}
	dir, err := filepath.Abs(r.cfg.NATS.DataDir)
	if err != nil {
		return "", nil, fmt.Errorf("invalid --data-dir %q: %w", r.cfg.NATS.DataDir, err)
	}
	srv, err := embedded.Start(embedded.Config{Listen: r.cfg.NATS.Listen, DataDir: dir, SyncAlways: r.cfg.NATS.SyncAlways, User: r.cfg.NATS.User,
		Password: r.cfg.NATS.Password.Reveal(), Token: r.cfg.NATS.Token.Reveal()})
	if err != nil {
		return "", nil, err
	}
	auth := r.cfg.NATS.User != "" || !r.cfg.NATS.Token.IsZero()
	log.Info().Str("url", srv.ClientURL()).Str("data_dir", dir).Bool("authentication", auth).Msg("embedded NATS server started (for local use; production connects to a NATS cluster with --nats-url)")
	return srv.ClientURL(), func() {
		srv.Stop()
		log.Info().Msg("embedded NATS server stopped")
	}, nil
}

// simAPIKey is the API key shared by claybridge and its in-process
// simulator; it opens nothing else.
const simAPIKey = "claysim-local"

// startSim starts the in-process simulator when asked and returns the Clay
// base URL to use.
func (r *runner) startSim(ctx context.Context, log zerolog.Logger) (string, func(), error) {
	switch {
	case r.cfg.Sim.Enabled:
		cfg := claysim.Config{APIKey: simAPIKey, Logger: log.With().Str("component", "claysim").Logger()}
		sim, err := claysim.Start(context.WithoutCancel(ctx), r.cfg.Sim.Listen, cfg)
		if err != nil {
			return "", nil, fmt.Errorf("start Clay simulator on --sim-listen %s: %w", r.cfg.Sim.Listen, err)
		}
		log.Info().Str("url", sim.URL()).Msg("Clay simulator started in-process: no request reaches real Clay")
		return sim.URL(), func() { _ = sim.Close() }, nil
	case r.cfg.Clay.URL != "":
		log.Info().Str("url", config.RedactURL(r.cfg.Clay.URL)).Msg("Clay calls go to the configured base URL")
		if r.cfg.Clay.APIKey.IsZero() {
			log.Warn().Msg("no Clay API key in CLAYBRIDGE_CLAY_API_KEY or clay.api_key_file: routine and search calls will get 401")
		}
		return r.cfg.Clay.URL, func() {}, nil
	default:
		log.Info().Str("url", clay.DefaultBaseURL).Msg("Clay calls go to real Clay")
		return clay.DefaultBaseURL, func() {}, nil
	}
}

// connectNATS connects with cfg's credentials and TLS and logs every loss
// and restoration of the connection.
func connectNATS(cfg config.NATS, log zerolog.Logger) (*nats.Conn, error) {
	nc, err := client.Connect(cfg, "claybridge",
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn().Err(err).Msg("NATS connection lost: reconnecting")
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info().Str("url", c.ConnectedUrlRedacted()).Msg("NATS connection restored")
		}),
	)
	if err != nil {
		return nil, err
	}
	_, tlsErr := nc.TLSConnectionState()
	log.Info().Str("url", nc.ConnectedUrlRedacted()).Bool("tls", tlsErr == nil).Msg("connected to NATS")
	return nc, nil
}

// serveHTTP serves liveness, readiness and metrics.
func serveHTTP(addr string, registry *prometheus.Registry, proc *processor.Processor, nc *nats.Conn, log zerolog.Logger) (func(), error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !proc.Ready() || !nc.IsConnected() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{Registry: registry}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on --http-listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("HTTP server stopped")
		}
	}()
	log.Info().Str("addr", ln.Addr().String()).Msg("serving /healthz, /readyz and /metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
