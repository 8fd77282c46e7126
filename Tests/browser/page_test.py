#!/usr/bin/env python3
"""The on-call page in a real browser (Debian's chromium and chromium-driver, Selenium from
PyPI), against a running `vigil run` whose stream fires high_latency on kalshi and on a venue
named <img src=x onerror=alert(1)>. PageBrowserTests starts vigil, feeds it, and runs this:

    page_test.py http://127.0.0.1:PORT OUTDIR

It acks one alert from the page, silences the other, expires the silence, checks the API
agrees at each step, that the hostile label renders as text, that the console has no error,
and saves screenshots at 375 px and 1440 px in OUTDIR. Exit 0: every check held."""
import json
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By

XSS = "<img src=x onerror=alert(1)>"


def api(base, path):
    with urllib.request.urlopen(base + path, timeout=5) as r:
        return json.loads(r.read())


def until(what, check, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception:  # the page re-renders every second: an element may go stale
            pass
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def click(what, find):
    """Clicks what `find` returns, again if the page re-rendered it away meanwhile."""
    def attempt():
        find().click()
        return True
    until(what, attempt)


def card(driver, venue):
    for c in driver.find_elements(By.CSS_SELECTOR, "#alerts .card"):
        if 'venue="%s"' % venue.replace('"', '\\"') in c.find_element(By.CSS_SELECTOR, ".labels").text:
            return c
    return None


def main():
    base, out = sys.argv[1], sys.argv[2]
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1440,1000"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(base + "/")
        until("the firing alerts", lambda: card(driver, "kalshi") and card(driver, XSS))
        # The notifications so far (two console lines to slack) and where the rule is written.
        # Read in one attempt inside `until`: the page re-renders the list every second, so a
        # row found in one call may be stale by the next.
        def printed_rows():
            rows = driver.find_elements(By.CSS_SELECTOR, "#recent .notification-row")
            return len(rows) == 2 and all("printed" in r.text for r in rows)
        until("the two notifications listed, each printed", printed_rows)
        until("the rule's file and line", lambda: "t.rules:2" in driver.find_element(By.ID, "rules").text)
        kalshi = api(base, "/api/v1/alerts")
        fp = next(a["fingerprint"] for a in kalshi if a["labels"].get("venue") == "kalshi")

        # Ack kalshi with a comment; the page and the API agree.
        click("kalshi's ack button", lambda: card(driver, "kalshi").find_element(By.CSS_SELECTOR, "button.ack"))
        driver.find_element(By.ID, "ack-comment").send_keys("looking at the feed")
        driver.find_element(By.ID, "ack-submit").click()
        until("the ack on the page", lambda: "looking at the feed" in card(driver, "kalshi").find_element(By.CSS_SELECTOR, ".acked").text)
        acked = next(a for a in api(base, "/api/v1/alerts") if a["fingerprint"] == fp)
        assert acked["acked"] and acked["ack"]["comment"] == "looking at the feed" and acked["ack"]["by"] == "on-call page", acked

        # The hostile label is text, and nothing ran.
        labels = until("the hostile label", lambda: card(driver, XSS).find_element(By.CSS_SELECTOR, ".labels").text)
        assert labels == 'venue="%s"' % XSS, labels
        assert not driver.find_elements(By.CSS_SELECTOR, "#alerts img"), "an <img> element was made from a label"
        try:
            driver.switch_to.alert
            raise AssertionError("a script from a label ran")
        except NoAlertPresentException:
            pass

        # Silence it from its card (matchers pre-filled from its labels); listed and muting.
        click("the silence button", lambda: card(driver, XSS).find_element(By.CSS_SELECTOR, "button.silence"))
        prefilled = driver.find_element(By.ID, "silence-matchers").get_attribute("value")
        assert prefilled == 'alertname="high_latency", venue="%s"' % XSS, prefilled
        driver.find_element(By.ID, "silence-comment").send_keys("known noise")
        driver.find_element(By.ID, "silence-submit").click()
        until("the silence listed", lambda: driver.find_elements(By.CSS_SELECTOR, "#silences .silence-row"))
        until("the alert shown silenced", lambda: card(driver, XSS).find_elements(By.CSS_SELECTOR, ".silenced"))
        silences = api(base, "/api/v1/silences")
        assert len(silences) == 1 and silences[0]["comment"] == "known noise", silences
        muted = next(a for a in api(base, "/api/v1/alerts") if a["labels"].get("venue") == XSS)
        assert muted["silencedBy"] == [silences[0]["id"]], muted
        mutes = until("the silence's count", lambda: driver.find_element(By.CSS_SELECTOR, "#silences .silence-row").find_elements(By.TAG_NAME, "td")[5].text)
        assert mutes == "1", mutes  # it mutes one alert now

        # Screenshots while it is all on the page, at a laptop's width and a phone's.
        driver.save_screenshot(out + "/page-1440.png")
        driver.set_window_size(375, 812)
        time.sleep(1.2)
        width = driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 375, "the page is %d px wide at 375" % width
        driver.save_screenshot(out + "/page-375.png")
        driver.set_window_size(1440, 1000)

        # Expire it from the page.
        click("the expire button", lambda: driver.find_element(By.CSS_SELECTOR, "#silences .silence-row button.expire"))
        until("the silence gone", lambda: not driver.find_elements(By.CSS_SELECTOR, "#silences .silence-row"))
        assert api(base, "/api/v1/silences") == [], "the API still lists the silence"

        # A fingerprint link opens that alert.
        driver.get(base + "/#/alert/" + fp)
        until("the linked alert marked", lambda: driver.find_elements(By.CSS_SELECTOR, "#alert-%s.target" % fp))

        errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        assert not errors, "console errors: %s" % errors
        print("page test: ack, silence, expire, XSS inert, no console error, screenshots in " + out)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
