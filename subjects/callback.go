package subjects

// Callbacks: Clay's HTTP API column posts each enriched row of a table
// configured to call back to claybridge's callback listener.
const (
	// RowCallbackURLColumn is the column carrying the URL Clay posts the
	// enriched row to.
	RowCallbackURLColumn = "claybridge_callback_url"
	// RowCallbackTokenColumn is the column carrying the row's callback
	// token, which Clay sends back in HeaderCallbackToken.
	RowCallbackTokenColumn = "claybridge_callback_token"
	// HeaderCallbackToken carries the row's callback token on Clay's POST.
	HeaderCallbackToken = "X-Claybridge-Callback-Token"
	// CallbackPath is the path of the callback listener under which each
	// request key has its URL: CallbackPath + the escaped key.
	CallbackPath = "/v1/callbacks/"
)

// CallbackSubject returns the subject a callback for the request key is
// stored on in CLAY_CALLBACKS.
func CallbackSubject(key string) string {
	return CallbackPrefix + "." + HashKey(key)
}

// PendingKey returns the CLAY_PENDING key of the request key's record: the
// hex SHA-256 of the key.
func PendingKey(key string) string { return HashKey(key) }
