"""Screenshot of the ops dashboard (/ops) of the running API, once its key panels have drawn:
`python screenshot.py URL OUT.png` (headless Debian Chromium, as the browser tests drive it)."""
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.common.by import By


def main(url: str, out: str) -> None:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tempfile.mkdtemp()}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(options=options, service=webdriver.ChromeService(
        executable_path="/usr/bin/chromedriver"))
    try:
        browser.set_window_size(1600, 1200)
        browser.get(url)
        deadline = time.monotonic() + 60
        while any(not p.get_attribute("data-state")
                  for p in browser.find_elements(By.CLASS_NAME, "panel")):
            assert time.monotonic() < deadline, "the panels did not answer within 60 s"
            time.sleep(1)
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1600, height + 150)
        time.sleep(1)
        browser.save_screenshot(out)
        print(out)
    finally:
        browser.quit()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
