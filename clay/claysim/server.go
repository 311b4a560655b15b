// Package claysim simulates the parts of Clay's HTTP API that claybridge
// calls: table webhook sources, the public API v0 (/me, routines, people
// and company search), their documented limits and error statuses, and the
// callbacks of a table's HTTP API column to loopback URLs.
// Tests run it in-process through New or Start, and cmd/claysim runs it
// as a standalone server. An admin API under /_sim/ reads statistics, injects
// faults and changes settings at run time.
package claysim

import (
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// Server is the simulator as an http.Handler. It is safe for concurrent
// use.
type Server struct {
	log    zerolog.Logger
	mux    *http.ServeMux
	stats  *statsRecorder
	faults faultSet

	settingsMu sync.RWMutex
	settings   Config

	// limiter is the workspace's webhook records rate limit. admitRows
	// holds sourcesMu while it takes tokens.
	limiter      *rate.Limiter
	sourcesMu    sync.Mutex
	rowsBySource map[string]int

	publicWindow publicWindow
	callbacks    *callbackSender

	runs     runStore
	searches searchStore
}

var _ http.Handler = (*Server)(nil)

// New returns a simulator with cfg's settings, with defaults for zero
// fields. New does not reject invalid settings: an unknown WebhookAck
// falls back to AckJSON200. Start checks cfg and returns an error instead.
func New(cfg Config) *Server {
	settings := cfg.withDefaults()
	settings.LatencyByOperation = maps.Clone(cfg.LatencyByOperation)
	stats := newStatsRecorder()
	s := &Server{
		log:          cfg.Logger,
		mux:          http.NewServeMux(),
		stats:        stats,
		settings:     settings,
		limiter:      rate.NewLimiter(recordsLimit(settings.RateLimit), settings.Burst),
		rowsBySource: map[string]int{},
		callbacks:    newCallbackSender(stats, cfg.Logger),
		runs:         runStore{runs: map[string]*routineRun{}},
		searches:     searchStore{searches: map[string]*searchState{}},
	}
	s.routes()
	return s
}

// recordsLimit converts a Config.RateLimit to a limiter rate, where a
// negative value means no limit.
func recordsLimit(perSecond float64) rate.Limit {
	if perSecond < 0 {
		return rate.Inf
	}
	return rate.Limit(perSecond)
}

func (s *Server) routes() {
	s.mux.HandleFunc("POST /v3/sources/webhook/{source}", s.handleRows)
	s.mux.HandleFunc("GET /public/v0/me", s.handleMe)
	s.mux.HandleFunc("POST /public/v0/routines/{routineID}/run", s.handleRoutineRun)
	s.mux.HandleFunc("GET /public/v0/routines/run/{runID}/results", s.handleRoutineResults)
	s.mux.HandleFunc("POST /public/v0/search/people", s.handleSearch(searchPeople))
	s.mux.HandleFunc("POST /public/v0/search/companies", s.handleSearch(searchCompanies))

	s.mux.HandleFunc("GET /_sim/stats", s.handleGetStats)
	s.mux.HandleFunc("DELETE /_sim/stats", s.handleDeleteStats)
	s.mux.HandleFunc("GET /_sim/faults", s.handleGetFaults)
	s.mux.HandleFunc("POST /_sim/faults", s.handlePostFault)
	s.mux.HandleFunc("DELETE /_sim/faults", s.handleDeleteFaults)
	s.mux.HandleFunc("GET /_sim/config", s.handleGetConfig)
	s.mux.HandleFunc("POST /_sim/config", s.handlePostConfig)

	s.mux.HandleFunc("/", s.handleNotFound)
}

// ServeHTTP serves the Clay endpoints and the /_sim/ admin API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// Stats returns a snapshot of the statistics, in the same shape as
// GET /_sim/stats.
func (s *Server) Stats() Stats {
	return s.stats.snapshot()
}

// ResetStats clears the statistics. Routine runs, searches, pending
// callbacks and the webhook sources' lifetime row counts are kept.
func (s *Server) ResetStats() {
	s.stats.reset()
}

// Close cancels pending and in-flight callbacks and waits until their
// goroutines have returned. The handler keeps serving, but rows accepted
// after Close get no callback. Close always returns nil. Running.Close
// calls it, so only a Server used without Start needs its own call.
func (s *Server) Close() error {
	s.callbacks.close()
	return nil
}

// AddFault activates f from now on. A fault with neither Status nor
// Latency has no effect, and POST /_sim/faults rejects such faults.
func (s *Server) AddFault(f Fault) {
	s.faults.add(f, time.Now())
	s.log.Info().Int("status", f.Status).Str("operation", f.Operation).
		Dur("duration", f.Duration).Int("count", f.Count).Dur("latency", f.Latency).
		Msg("fault added")
}

// ClearFaults removes every active fault.
func (s *Server) ClearFaults() {
	s.faults.clear()
	s.log.Info().Msg("faults cleared")
}

// config returns the current settings. Callers must not change the
// LatencyByOperation map, which is replaced as a whole on update.
func (s *Server) config() Config {
	s.settingsMu.RLock()
	defer s.settingsMu.RUnlock()
	return s.settings
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	writeReply(w, errorReply(http.StatusNotFound, "no Clay endpoint for %s %s", r.Method, r.URL.Path))
}
