package claysim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
)

// maxAdminBodyBytes bounds the bodies of /_sim/ requests.
const maxAdminBodyBytes = 64 * 1024

func (s *Server) handleGetStats(w http.ResponseWriter, r *http.Request) {
	writeReply(w, jsonReply(http.StatusOK, s.Stats()))
}

func (s *Server) handleDeleteStats(w http.ResponseWriter, r *http.Request) {
	s.ResetStats()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleGetFaults(w http.ResponseWriter, r *http.Request) {
	writeReply(w, jsonReply(http.StatusOK, map[string]any{"faults": s.faults.list(time.Now())}))
}

func (s *Server) handlePostFault(w http.ResponseWriter, r *http.Request) {
	var f Fault
	if err := decodeAdminBody(w, r, &f); err != nil {
		s.log.Warn().Err(err).Msg("rejected invalid fault body")
		writeReply(w, errorReply(http.StatusBadRequest, "invalid fault: %v", err))
		return
	}
	if err := f.validate(); err != nil {
		s.log.Warn().Err(err).Msg("rejected invalid fault")
		writeReply(w, errorReply(http.StatusBadRequest, "%v", err))
		return
	}
	s.AddFault(f)
	writeReply(w, jsonReply(http.StatusCreated, map[string]any{"faults": s.faults.list(time.Now())}))
}

func (s *Server) handleDeleteFaults(w http.ResponseWriter, r *http.Request) {
	s.ClearFaults()
	w.WriteHeader(http.StatusNoContent)
}

// decodeAdminBody decodes a JSON body into v, rejecting unknown fields so
// that a misspelt setting does not pass silently.
func decodeAdminBody(w http.ResponseWriter, r *http.Request, v any) error {
	decoder := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBodyBytes))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("the body is empty")
		}
		return err
	}
	return nil
}
