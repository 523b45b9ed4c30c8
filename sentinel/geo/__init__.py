"""Geography: grid cells, homography geolocation, placement of an event on the ground."""
