package suite

// AEADTransform returns a as an ESPTransform, the form the ESP packet code
// takes: the AAD is SPI || Seq, or SPI || SeqHigh || SeqLow with ESN
// (RFC 4106 5, RFC 7634 2.1). NewESPTransform returns the same for the
// AEAD transform IDs; this is for callers that already hold an *AEAD.
func AEADTransform(a *AEAD) ESPTransform { return aeadTransform{a} }
