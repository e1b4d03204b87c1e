package ike

import (
	"errors"
	"strings"
	"testing"
)

// Payload shorthands for the rule table tests, in RFC 7296 notation.
var (
	pSA      = &SA{}
	pKE      = &KE{}
	pNonce   = &Nonce{}
	pIDi     = &ID{}
	pIDr     = &ID{Responder: true}
	pCERT    = &Cert{}
	pCERTREQ = &CertReq{}
	pAUTH    = &Auth{}
	pD       = &Delete{}
	pV       = &VendorID{}
	pTSi     = &TS{}
	pTSr     = &TS{Responder: true}
	pCP      = &CP{}
	pEAP     = &EAP{}
	pSKF     = &Unknown{PType: PayloadSKF}
	pUnknown = &Unknown{PType: 99}
)

func n(t NotifyType) *Notify { return &Notify{NotifyType: t} }

var (
	nNATD   = n(NotifyNATDetectionSourceIP)
	nCookie = n(NotifyCookie)
	nInvKE  = n(NotifyInvalidKEPayload)
	nNoProp = n(NotifyNoProposalChosen)
	nAuthF  = n(NotifyAuthenticationFailed)
	nTSUn   = n(NotifyTSUnacceptable)
	nIC     = n(NotifyInitialContact)
	nRekey  = n(NotifyRekeySA)
)

func pl(ps ...Payload) []Payload { return ps }

func TestVerify(t *testing.T) {
	const ok = ""
	tests := []struct {
		name     string
		exch     ExchangeType
		response bool
		ps       []Payload
		wantErr  string // substring; "" = valid
	}{
		// IKE_SA_INIT request (RFC 7296 1.2).
		{"init req", IKESAInit, false, pl(pSA, pKE, pNonce, nNATD, nNATD), ok},
		{"init req with cookie", IKESAInit, false, pl(nCookie, pSA, pKE, pNonce), ok},
		{"init req with V, CERTREQ", IKESAInit, false, pl(pSA, pKE, pNonce, pV, pCERTREQ, pV), ok},
		{"init req unknown payload ignored", IKESAInit, false, pl(pSA, pKE, pUnknown, pNonce), ok},
		{"init req without KE", IKESAInit, false, pl(pSA, pNonce), "missing KE payload"},
		{"init req without Nonce", IKESAInit, false, pl(pSA, pKE), "missing Nonce payload"},
		{"init req without SA", IKESAInit, false, pl(pKE, pNonce), "missing SA payload"},
		{"init req with IDi", IKESAInit, false, pl(pSA, pKE, pNonce, pIDi), "unexpected IDi payload"},
		{"init req with TSi", IKESAInit, false, pl(pSA, pKE, pNonce, pTSi), "unexpected TSi payload"},
		{"init req with SKF", IKESAInit, false, pl(pSA, pKE, pNonce, pSKF), "unexpected SKF payload"},
		{"init req two SA", IKESAInit, false, pl(pSA, pSA, pKE, pNonce), "2 SA payloads, at most 1"},
		{"init req two KE", IKESAInit, false, pl(pSA, pKE, pKE, pNonce), "2 KE payloads"},
		{"init req empty", IKESAInit, false, nil, "missing"},

		// IKE_SA_INIT response.
		{"init resp", IKESAInit, true, pl(pSA, pKE, pNonce, nNATD, pCERTREQ, pV), ok},
		{"init resp cookie", IKESAInit, true, pl(nCookie), ok},
		{"init resp invalid KE", IKESAInit, true, pl(nInvKE), ok},
		{"init resp no proposal", IKESAInit, true, pl(nNoProp, pV), ok},
		{"init resp cookie with SA", IKESAInit, true, pl(nCookie, pSA, pKE, pNonce), "unexpected"},
		{"init resp error with KE", IKESAInit, true, pl(nInvKE, pKE), "unexpected KE payload"},
		{"init resp without Nonce", IKESAInit, true, pl(pSA, pKE, nNATD), "missing Nonce payload"},
		{"init resp status only", IKESAInit, true, pl(nNATD), "missing"},

		// IKE_AUTH request (RFC 7296 1.2, 2.15).
		{"auth req", IKEAuth, false, pl(pIDi, pCERT, pCERTREQ, pIDr, pAUTH, pCP, pSA, pTSi, pTSr, nIC, pV), ok},
		{"auth req minimal", IKEAuth, false, pl(pIDi, pAUTH, pSA, pTSi, pTSr), ok},
		{"auth req childless", IKEAuth, false, pl(pIDi, pAUTH), ok},
		{"auth req without AUTH", IKEAuth, false, pl(pIDi, pSA, pTSi, pTSr), "missing AUTH payload"},
		{"auth req without IDi", IKEAuth, false, pl(pAUTH, pSA, pTSi, pTSr), "missing IDi payload"},
		{"auth req with KE", IKEAuth, false, pl(pIDi, pAUTH, pKE, pSA, pTSi, pTSr), "unexpected KE payload"},
		{"auth req with Nonce", IKEAuth, false, pl(pIDi, pAUTH, pNonce), "unexpected Nonce payload"},
		{"auth req with EAP", IKEAuth, false, pl(pIDi, pAUTH, pEAP), "unexpected EAP payload"},
		{"auth req SA without TS", IKEAuth, false, pl(pIDi, pAUTH, pSA), "SA, TSi, TSr payloads must appear together"},
		{"auth req TS without SA", IKEAuth, false, pl(pIDi, pAUTH, pTSi, pTSr), "must appear together"},
		{"auth req two IDr", IKEAuth, false, pl(pIDi, pIDr, pIDr, pAUTH), "2 IDr payloads"},
		{"auth req two CP", IKEAuth, false, pl(pIDi, pAUTH, pCP, pCP), "2 CP payloads"},
		{"auth req two TSi", IKEAuth, false, pl(pIDi, pAUTH, pSA, pTSi, pTSi, pTSr), "2 TSi payloads"},

		// IKE_AUTH response.
		{"auth resp", IKEAuth, true, pl(pIDr, pCERT, pAUTH, pCP, pSA, pTSi, pTSr, pV), ok},
		{"auth resp child refused", IKEAuth, true, pl(pIDr, pAUTH, nTSUn), ok},
		{"auth resp auth failed", IKEAuth, true, pl(nAuthF), ok},
		{"auth resp childless", IKEAuth, true, pl(pIDr, pAUTH), ok},
		{"auth resp without AUTH", IKEAuth, true, pl(pIDr, pSA, pTSi, pTSr), "missing AUTH payload"},
		{"auth resp with IDi", IKEAuth, true, pl(pIDi, pIDr, pAUTH), "unexpected IDi payload"},
		{"auth resp with CERTREQ", IKEAuth, true, pl(pIDr, pAUTH, pCERTREQ), "unexpected CERTREQ payload"},
		{"auth resp with KE", IKEAuth, true, pl(pIDr, pAUTH, pKE, pSA, pTSi, pTSr), "unexpected KE payload"},
		{"auth resp TSi only", IKEAuth, true, pl(pIDr, pAUTH, pSA, pTSi), "must appear together"},
		{"auth resp status only", IKEAuth, true, pl(nIC), "missing"},
		{"auth resp error with SA", IKEAuth, true, pl(nAuthF, pSA), "unexpected SA payload"},

		// CREATE_CHILD_SA (RFC 7296 1.3).
		{"child req", CreateChildSA, false, pl(nRekey, pSA, pNonce, pKE, pTSi, pTSr), ok},
		{"child req no PFS", CreateChildSA, false, pl(pSA, pNonce, pTSi, pTSr), ok},
		{"IKE rekey req", CreateChildSA, false, pl(pSA, pNonce, pKE), ok},
		{"child req TSi only", CreateChildSA, false, pl(pSA, pNonce, pTSi), "TSi, TSr payloads must appear together"},
		{"child req without Nonce", CreateChildSA, false, pl(pSA, pKE, pTSi, pTSr), "missing Nonce payload"},
		{"child req with IDi", CreateChildSA, false, pl(pSA, pNonce, pIDi), "unexpected IDi payload"},
		{"child req two KE", CreateChildSA, false, pl(pSA, pNonce, pKE, pKE), "2 KE payloads"},
		{"child resp", CreateChildSA, true, pl(pSA, pNonce, pKE, pTSi, pTSr), ok},
		{"child resp no proposal", CreateChildSA, true, pl(nNoProp), ok},
		{"child resp invalid KE", CreateChildSA, true, pl(nInvKE), ok},
		{"child resp error with SA", CreateChildSA, true, pl(nNoProp, pSA, pNonce), "unexpected"},
		{"child resp without SA", CreateChildSA, true, pl(pNonce, pTSi, pTSr), "missing SA payload"},

		// INFORMATIONAL (RFC 7296 1.4, 1.5).
		{"info empty", Informational, false, nil, ok},
		{"info empty resp", Informational, true, nil, ok},
		{"info delete", Informational, false, pl(pD, pD, nIC, pV), ok},
		{"info CP", Informational, true, pl(pCP, nAuthF), ok},
		{"info two CP", Informational, false, pl(pCP, pCP), "2 CP payloads"},
		{"info with SA", Informational, false, pl(pSA), "unexpected SA payload"},
		{"info with KE", Informational, true, pl(pD, pKE), "unexpected KE payload"},

		// Outside the table.
		{"unknown exchange", 44, false, nil, "no payload rules"},
		{"nil payload", Informational, false, pl(nil), "nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.exch, tt.response, tt.ps)
			if tt.wantErr == ok {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted, want error containing %q", tt.wantErr)
			}
			if !errors.Is(err, ErrPayloadRules) {
				t.Errorf("error %q does not wrap ErrPayloadRules", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			dir := "request"
			if tt.response {
				dir = "response"
			}
			if tt.exch != 43 && !strings.Contains(err.Error(), tt.exch.String()+" "+dir) {
				t.Errorf("error %q does not name the exchange %v %s", err, tt.exch, dir)
			}
		})
	}
}

func TestVerifyErrorMessage(t *testing.T) {
	err := Verify(IKEAuth, false, pl(pIDi, pAUTH, pKE, pSA, pTSi, pTSr))
	want := "ike: IKE_AUTH request: unexpected KE payload: payloads do not match the exchange"
	if err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

// TestVerifyRuleTableComplete checks that every exchange of RFC 7296 has
// rules for both directions.
func TestVerifyRuleTableComplete(t *testing.T) {
	for _, e := range []ExchangeType{IKESAInit, IKEAuth, CreateChildSA, Informational} {
		for _, resp := range []bool{false, true} {
			if len(rules[ruleKey{e, resp}]) == 0 {
				t.Errorf("no rules for %v response=%v", e, resp)
			}
		}
	}
}
