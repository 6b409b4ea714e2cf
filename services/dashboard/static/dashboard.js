// Live updates for the dashboard page: new events from the server-sent event stream go to the
// top of the feed, and the figures section is fetched again (server-rendered) after a burst of
// events. Without this script the page still shows everything, as of its last load.
(function () {
  "use strict";

  var feed = document.getElementById("feed");
  var status = document.getElementById("live-status");
  var figures = document.getElementById("figures");
  if (!feed || !status || !("EventSource" in window)) {
    return;
  }
  var MAX_ITEMS = 100;
  var wantType = feed.dataset.type || "";
  var wantService = feed.dataset.service || "";
  var hideDeliveries = feed.dataset.hideDeliveries === "true";
  var hideToggle = document.getElementById("hide-deliveries");
  // The toggle applies at once; without this script the form's button applies it.
  if (hideToggle && hideToggle.form) {
    hideToggle.addEventListener("change", function () { hideToggle.form.submit(); });
  }
  var refreshTimer = null;

  function say(state) {
    status.dataset.state = state;
    status.textContent = status.dataset[state] || "";
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function serviceLabel(service) {
    var option = document.querySelector('#filter-service option[value="' + service + '"]');
    return option ? option.textContent : service;
  }

  // Built with textContent only: nothing from an event is ever parsed as HTML.
  function render(item) {
    var li = element("li", "event event-new");
    li.dataset.seq = String(item.seq);
    li.dataset.eventId = item.event_id;
    li.dataset.service = item.service;
    li.dataset.name = item.name;
    var meta = element("p", "event-meta");
    var time = element("time", "", item.time_display);
    time.setAttribute("datetime", item.occurred_at);
    meta.appendChild(time);
    meta.appendChild(document.createTextNode(" "));
    meta.appendChild(element("span", "badge badge-" + item.service, serviceLabel(item.service)));
    meta.appendChild(document.createTextNode(" "));
    meta.appendChild(element("span", "event-type", item.label));
    li.appendChild(meta);
    li.appendChild(element("p", "event-summary", item.summary));
    var key = element("p", "event-key");
    key.appendChild(element("span", "label", feed.dataset.labelKey + ":"));
    key.appendChild(document.createTextNode(" "));
    var code = element("code", "", item.key);
    code.setAttribute("translate", "no");
    key.appendChild(code);
    li.appendChild(key);
    return li;
  }

  function refreshFigures() {
    if (!figures || refreshTimer !== null) {
      return;
    }
    refreshTimer = window.setTimeout(function () {
      refreshTimer = null;
      fetch(figures.dataset.source, { headers: { Accept: "text/html" } })
        .then(function (response) {
          return response.ok ? response.text() : null;
        })
        .then(function (html) {
          if (html === null) {
            return;
          }
          // Keep open chart tables open, and focus where it was, across the swap.
          var open = Array.prototype.map.call(
            figures.querySelectorAll("details[open]"),
            function (node) { return node.id; }
          );
          var focused = document.activeElement && figures.contains(document.activeElement)
            ? document.activeElement.id : null;
          figures.innerHTML = html;
          open.forEach(function (id) {
            var node = document.getElementById(id);
            if (node) { node.open = true; }
          });
          if (focused) {
            var again = document.getElementById(focused);
            if (again) { again.focus(); }
          }
        })
        .catch(function () { /* the next event tries again */ });
    }, 300);
  }

  var source = new EventSource(feed.dataset.stream);
  source.addEventListener("open", function () { say("connected"); });
  source.addEventListener("error", function () { say("lost"); });
  source.addEventListener("feed", function (message) {
    var item;
    try {
      item = JSON.parse(message.data);
    } catch (error) {
      return;
    }
    refreshFigures();
    if ((wantType && item.name !== wantType) || (wantService && item.service !== wantService) ||
        (hideDeliveries && item.name === "message-delivered")) {
      return;
    }
    if (feed.querySelector('[data-seq="' + item.seq + '"]')) {
      return;
    }
    // A grouped item (a campaign's deliveries) comes again with a new seq and count: the
    // newer one replaces it at the top.
    Array.prototype.forEach.call(feed.querySelectorAll("li.event"), function (node) {
      if (node.dataset.eventId === item.event_id) {
        node.remove();
      }
    });
    var empty = feed.querySelector(".feed-empty");
    if (empty) {
      empty.remove();
    }
    feed.insertBefore(render(item), feed.firstChild);
    while (feed.children.length > MAX_ITEMS) {
      feed.removeChild(feed.lastChild);
    }
  });
  window.addEventListener("pagehide", function () { source.close(); });
})();
