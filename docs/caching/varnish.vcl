# Varnish 7 in front of a Wagtail site running wagtail_experiments with SHARED_CACHE = True.
# Tested by tests/test_behind_a_cache.py with Debian's varnish package (7.1).
#
# One cached copy per page and combination of variants (never one per visitor):
# the visitor's variants key (cookie wexp_v, set by the origin) is copied into the
# X-Experiments-Variants request header, and experiment pages answer
# "Vary: X-Experiments-Variants". Pages without an experiment carry no Vary and are cached
# once for everybody. New visitors (no key yet) reach the origin, which buckets them; a
# response that sets a cookie or is private is never stored.
vcl 4.1;

backend default {
    .host = "127.0.0.1";
    .port = "8000";
}

# Who may purge: the Wagtail servers (wagtail.contrib.frontend_cache's HTTPBackend sends
# PURGE <path> with the page's Host).
acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(405, "Not allowed"));
        }
        # Every variant of the page, and the page with any query string.
        ban("req.http.host == " + req.http.host +
            " && req.url ~ ^" + regsub(req.url, "\?.*$", "") + "(\?|$)");
        return (synth(200, "Purged"));
    }
    # The key comes from the visitor's own cookie only, never from a client's header.
    unset req.http.X-Experiments-Variants;
    if (req.http.Cookie ~ "(^|;\s*)wexp_v=") {
        set req.http.X-Experiments-Variants =
            regsub(req.http.Cookie, "^(.*;\s*)?wexp_v=([^;]*).*$", "\2");
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # Logged-in editors (who may force variants) and the admin, API and previews: the origin.
    if (req.http.Authorization || req.http.Cookie ~ "(^|;\s*)sessionid=" ||
        req.url ~ "^/(admin|_experiments|api)/") {
        return (pass);
    }
    # Varnish's built-in rule passes any request with a cookie; here the visitor's cookies
    # go to the origin on a miss, and the cache decides by the response's own headers.
    return (hash);
}

sub vcl_backend_response {
    # A first view (it sets the visitor's cookies) or anything private: never stored, and
    # no hit-for-miss marker either, so the next visitor's copy can be.
    if (beresp.http.Set-Cookie || beresp.http.Cache-Control ~ "(private|no-store|no-cache)" ||
        beresp.http.Vary ~ "(?i)(^|,\s*)cookie(\s*,|$)") {
        set beresp.uncacheable = true;
        set beresp.ttl = 0s;
        return (deliver);
    }
    # Pages without their own lifetime: five minutes (purges make changes show at once).
    if (!beresp.http.Cache-Control ~ "max-age") {
        set beresp.ttl = 300s;
    }
    return (deliver);
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
