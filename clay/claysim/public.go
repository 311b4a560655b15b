package claysim

import "net/http"

// handleMe serves GET /public/v0/me.
func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	ex := s.begin(w, r, OpMe, maxPublicBodyBytes)
	if !s.await(w, r, ex) {
		return
	}
	if rep, ok := checkAPIKey(r, s.config()); !ok {
		s.finish(w, ex, rep)
		return
	}
	s.finish(w, ex, jsonReply(http.StatusOK, meResponse{WorkspaceID: 1, Name: "Simulated workspace"}))
}

type meResponse struct {
	WorkspaceID int    `json:"workspace_id"`
	Name        string `json:"name"`
}

// checkAPIKey returns a 401 reply unless the request carries an accepted
// clay-api-key header.
func checkAPIKey(r *http.Request, cfg Config) (reply, bool) {
	key := r.Header.Get("clay-api-key")
	if key == "" {
		return errorReply(http.StatusUnauthorized, "missing clay-api-key header"), false
	}
	if cfg.APIKey != "" && !secretsEqual(key, cfg.APIKey) {
		return errorReply(http.StatusUnauthorized, "invalid API key in clay-api-key header"), false
	}
	return reply{}, true
}
