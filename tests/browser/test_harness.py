"""The harness itself: what it must catch, it catches (a watcher that saw nothing would
let every browser test pass)."""

from __future__ import annotations

from tests.browser.conftest import Problems, new_context, watch


def test_console_errors_failed_assets_and_uncaught_exceptions_are_caught(browser, world):
    problems = Problems()
    context = new_context(browser, base_url=world.url)
    tab = watch(context.new_page(), problems)
    tab.goto("/deals")

    tab.evaluate("() => console.error('broken')")
    tab.evaluate("() => { setTimeout(() => { throw new Error('boom'); }); }")
    tab.evaluate(
        """() => new Promise(done => { const s = document.createElement('script');
             s.src = '/assets/js/missing.js'; s.onerror = done; document.head.append(s); })"""
    )
    tab.wait_for_timeout(100)
    context.close()

    found = "\n".join(problems.found)
    assert "console error: broken" in found
    assert "uncaught: boom" in found or "Error: boom" in found
    assert "HTTP 404: " in found and "/assets/js/missing.js" in found


def test_the_content_security_policy_stops_inline_and_foreign_scripts(browser, world):
    problems = Problems()
    context = new_context(browser, base_url=world.url)
    tab = watch(context.new_page(), problems)
    tab.goto("/deals")

    ran = tab.evaluate(
        """() => new Promise(done => {
             document.addEventListener('securitypolicyviolation', e => done(e.violatedDirective));
             const s = document.createElement('script');
             s.textContent = 'window.injected = true;';
             document.head.append(s);
             setTimeout(() => done(window.injected ? 'ran' : 'nothing'), 1000); })"""
    )
    context.close()

    assert ran.startswith("script-src")
    assert any("Content Security Policy" in p for p in problems.found)
